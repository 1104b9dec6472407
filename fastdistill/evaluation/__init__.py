"""Evaluation: the metric catalog, the survey metric suite, fidelity, efficiency and the judge."""
