"""Run-config validation as the tests call it."""

from __future__ import annotations

import pytest

from fastdistill.run_config import ConfigError, validate_parameters


def config_error(params: dict) -> str:
    """The message validation refuses `params` with (as if read from cfg.yaml)."""
    with pytest.raises(ConfigError) as err:
        validate_parameters(params, "cfg.yaml")
    return str(err.value)
