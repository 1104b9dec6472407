"""Scratch directories that live exactly as long as the step that made them."""

import atexit
import shutil
import tempfile
from pathlib import Path

from zenml import get_step_context


def step_scratch_dir(prefix: str) -> Path:
    """A temporary directory removed once the step's outputs are stored in the artifact store.

    A step that returns a model directory cannot delete it itself: ZenML materializes outputs after the step
    function returns. The step context's cleanup callbacks run after that, and are what ZenML's own
    `BaseMaterializer.get_temporary_directory` uses; without them a sweep left every trial's weights in /tmp.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    remove = lambda: shutil.rmtree(path, ignore_errors=True)  # noqa: E731
    registry = getattr(get_step_context(), "_cleanup_registry", None)
    if registry is not None:
        registry.register_callback(remove)
    else:  # a ZenML without the registry: at least do not outlive the process
        atexit.register(remove)
    return path
