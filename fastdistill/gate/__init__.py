"""The data-quality gate: dedup (exact, MinHash, semantic), row filters and the Great Expectations suite."""
