"""Shared fixtures. Nothing here downloads: models are tiny and built in-process."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Tests never read or write the developer's ZenML store, and the pytest-xdist workers never share one: every
# process sets its own (a worker inherits the controller's environment, hence no setdefault). ZenML reads it at
# import. Tests that run ZenML in a subprocess give it its own as well.
os.environ["ZENML_CONFIG_PATH"] = tempfile.mkdtemp(prefix="fastdistill-tests-zenml-")
atexit.register(shutil.rmtree, os.environ["ZENML_CONFIG_PATH"], ignore_errors=True)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory):
    """One model cache per test session: the tokenizer extraction and tiny models are built once."""
    return tmp_path_factory.mktemp("fastdistill-cache")


@pytest.fixture(scope="session")
def tiny_teacher_dir(model_cache_dir):
    from fastdistill.models import resolve_model

    return resolve_model("tiny:teacher", model_cache_dir)
