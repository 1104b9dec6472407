"""ZenML pipelines: wiring only."""

from pipelines.born_again import born_again
from pipelines.distill import distill

__all__ = ["born_again", "distill"]
