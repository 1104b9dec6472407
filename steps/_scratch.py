"""Scratch directories that live exactly as long as the step that made them, and work cleared once it is stored."""

import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from zenml import get_step_context


def _cleanup_registry():
    # ZenML runs these callbacks when the step context closes: after the outputs are stored, or on a failure.
    return getattr(get_step_context(), "_cleanup_registry", None)


def step_scratch_dir(prefix: str) -> Path:
    """A temporary directory removed once the step's outputs are stored in the artifact store.

    A step that returns a model directory cannot delete it itself: ZenML materializes outputs after the step
    function returns. The step context's cleanup callbacks run after that, and are what ZenML's own
    `BaseMaterializer.get_temporary_directory` uses; without them a sweep left every trial's weights in /tmp.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    remove = lambda: shutil.rmtree(path, ignore_errors=True)  # noqa: E731
    registry = _cleanup_registry()
    if registry is not None:
        registry.register_callback(remove)
    else:  # a ZenML without the registry: at least do not outlive the process
        atexit.register(remove)
    return path


def after_outputs_stored(callback: Callable[[], None]) -> None:
    """Run `callback` once the step's outputs are stored; never when the step or the storing failed.

    For work kept to resume (teacher shards): the step cannot drop it before returning, since a pod lost
    while ZenML stores the outputs would lose both. ZenML closes the step context inside the exception's
    handling when anything failed, so an exception in flight means: keep the work.
    """

    def run() -> None:
        if sys.exc_info()[0] is None:
            callback()

    registry = _cleanup_registry()
    if registry is not None:  # without it the work stays, which is safe: a rerun reads it instead of recomputing
        registry.register_callback(run)
