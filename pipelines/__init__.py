"""ZenML pipelines: wiring only."""

from pipelines.distill import distill

__all__ = ["distill"]
