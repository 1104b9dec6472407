"""FastDistill's command line: the click group `run.py` calls, with its commands grouped by theme.

- `distill` (distill.py): one run of the distill pipeline; with no command, the quickstart.
- `born-again`, `chain show`, `schedule ...` (chains.py): Born-Again chains.
- `evaluate`, `report` (evaluate.py): a model on a JSONL file; a run's HTML report again.
- `promote`, `registry repair`, `export` (registry.py): a champion by hand; what a crashed registration left;
  a registered student as a standalone Hugging Face folder.
- `stack`, `stack k8s`, `stack kubeflow` (stack.py): the local, Kubernetes and Kubeflow Pipelines ZenML stacks.

The commands only parse, call the library and print; ZenML, MLflow and the
pipelines are imported inside them, so `--help` stays fast. Errors go
through `console.fail` (exit 2: bad input, 1: a failed run).
"""

from __future__ import annotations

import click

from fastdistill.cli.chains import born_again_command, chain, schedule
from fastdistill.cli.distill import distill
from fastdistill.cli.evaluate import evaluate, report
from fastdistill.cli.paths import QUICKSTART
from fastdistill.cli.registry import export, promote, registry
from fastdistill.cli.stack import stack


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """FastDistill: distil a large teacher LLM into a small, fast student.

    With no command, runs the quickstart: the packaged SmolLM2-135M-Instruct
    teacher distilled into a 20-layer student on the local ZenML stack, with
    MLflow tracking and registry under .fastdistill/ in this directory.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(distill, config_path=QUICKSTART)


for command in (distill, born_again_command, chain, schedule, stack, evaluate, report, promote, registry, export):
    cli.add_command(command)

__all__ = ["cli"]
