"""Every command and option of the CLI is registered, with the defaults the README documents."""

from __future__ import annotations

import click
from click.testing import CliRunner

from fastdistill.cli import cli
from fastdistill.cli.paths import BORN_AGAIN, QUICKSTART, REPORTS


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        found[f"{prefix}{name}"] = command
        if isinstance(command, click.Group):
            found |= _commands(command, f"{prefix}{name} ")
    return found


def test_every_command_is_there():
    assert set(_commands(cli)) == {
        "distill", "born-again", "chain", "chain show", "schedule", "schedule list", "schedule pause",
        "schedule resume", "schedule delete", "evaluate", "report", "promote", "registry", "registry repair", "stack",
        "stack k8s", "stack kubeflow", "export"}


def test_defaults_point_into_the_project():
    commands = _commands(cli)
    defaults = {(name, p.name): p.default for name, c in commands.items() for p in c.params}
    assert defaults["distill", "config_path"] == QUICKSTART and QUICKSTART.is_file()
    assert defaults["born-again", "config_path"] == BORN_AGAIN and BORN_AGAIN.is_file()
    assert defaults["distill", "report_dir"] == defaults["report", "report_dir"] == REPORTS
    assert defaults["promote", "model_name"] == "fastdistill-student"
    assert defaults["stack kubeflow", "config_path"].is_file()  # configs/k8s.yaml, whichever the cwd


def test_schedule_without_cron_is_bad_input():
    out = CliRunner().invoke(cli, ["schedule"])
    assert out.exit_code == 2
    assert "error: schedule needs --cron (or one of: list, pause, resume, delete)" in out.output
