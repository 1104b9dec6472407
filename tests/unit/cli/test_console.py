"""The CLI's one error printer, and the entry point staying thin."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastdistill.cli.console import BAD_INPUT, RUN_FAILED, fail, warn

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("code", [BAD_INPUT, RUN_FAILED])
def test_errors_are_printed_literally_with_their_exit_code(capsys, code):
    with pytest.raises(SystemExit) as exited:
        fail("steps.train_student: pool [gpu] needs a toleration; [/x] and [bold]x[/bold] are text here", code)
    assert exited.value.code == code
    assert capsys.readouterr().out == (
        "error: steps.train_student: pool [gpu] needs a toleration; [/x] and [bold]x[/bold] are text here\n")


def test_bad_input_is_exit_2_and_a_failed_run_exit_1():
    assert (BAD_INPUT, RUN_FAILED) == (2, 1)
    with pytest.raises(SystemExit) as exited:
        fail("no such file")
    assert exited.value.code == 2


def test_warnings_are_literal_too(capsys):
    warn("MLflow [/] at http://x:5000 [gpu]")
    assert capsys.readouterr().out == "warning: MLflow [/] at http://x:5000 [gpu]\n"


def test_run_py_is_a_thin_entry_point():
    lines = (ROOT / "run.py").read_text().splitlines()
    assert len(lines) < 80
    assert any(line.startswith("from fastdistill.cli import cli") for line in lines)
    # the environment defaults come before anything imports ZenML, MLflow or transformers
    first_import = next(i for i, line in enumerate(lines) if line.startswith("from fastdistill"))
    assert all(i < first_import for i, line in enumerate(lines) if line.startswith("os.environ.setdefault"))


def test_the_dry_run_prints_config_values_literally(capsys):
    from fastdistill.cli.common import print_dry_run
    from fastdistill.run_config import validate_parameters

    params = validate_parameters({"data": {"seeds_path": str(ROOT / "data" / "seeds.jsonl")},
                                  "teacher": {"model": "tiny:teacher"}, "student": {"num_layers": 2},
                                  "gate": {"refusal_patterns": ["[Ss]orry", "as an ai [/x]"]}})
    print_dry_run(Path("configs/mine.yaml"), {"parameters": {}}, params)
    out = capsys.readouterr().out
    assert "- '[Ss]orry'\n" in out and "- as an ai [/x]\n" in out  # rich markup would eat both
    assert out.rstrip().endswith("configs/mine.yaml: valid")
