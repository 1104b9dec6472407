"""FastDistill: distil a large teacher LLM into a small, fast student."""
