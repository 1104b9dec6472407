"""`run.py evaluate --data` reads prompt files through the pipeline's one loader (`fastdistill/data/formats.py`):
an Alpaca JSON array and a Parquet export with its own column names, written by the tests.

Real transformers, datasets and MLflow (a SQLite store under the test's folder); the tiny in-process teacher is both
the teacher and the model evaluated (a local directory), so no registry or pipeline run is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """configs/tiny.yaml without the speed measurements, which say nothing about reading the data."""
    text = (ROOT / "configs" / "tiny.yaml").read_text()
    assert "    efficiency_prompts: 8\n" in text
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(text.replace("    efficiency_prompts: 8\n", "    efficiency_prompts: 0\n"))
    return path


def _evaluate(tmp_path: Path, model_dir: Path, cache: Path, config: Path, data: Path,
              *args: str) -> tuple[int, str, dict]:
    output = tmp_path / "metrics.json"
    env = {**os.environ, "FASTDISTILL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run([sys.executable, "run.py", "evaluate", "--model", str(model_dir), "--teacher", "tiny:teacher",
                          "--config", str(config), "--data", str(data), "--output", str(output),
                          "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", *args],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    document = json.loads(output.read_text()) if output.exists() else {}
    return out.returncode, " ".join(out.stdout.split()) + out.stderr[-3000:], document


def test_evaluate_reads_an_alpaca_json_array(tmp_path, tiny_teacher_dir, model_cache_dir, config):
    data = tmp_path / "alpaca.json"
    data.write_text(json.dumps([
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        {"instruction": "Give a synonym of happy.", "input": "", "output": "Glad"},
        {"instruction": "Write one sentence about rain."},  # no output: a prompt without a reference
    ]))
    code, out, doc = _evaluate(tmp_path, tiny_teacher_dir, model_cache_dir, config, data)
    assert code == 0, out
    assert doc["examples"] == 3 and doc["teacher"] == "tiny:teacher"
    assert [s["prompt"] for s in doc["samples"]] == ["Translate to French.\n\nGood morning", "Give a synonym of happy.",
                                                     "Write one sentence about rain."]
    assert [s["reference"] for s in doc["samples"]] == ["Bonjour", "Glad", None]
    assert doc["metrics"]["rougeL_vs_reference"]["n"] == 2 and doc["metrics"]["rougeL_vs_teacher"]["n"] == 3


def test_evaluate_reads_a_parquet_export_with_its_own_column_names(tmp_path, tiny_teacher_dir, model_cache_dir, config):
    data = tmp_path / "tickets.parquet"
    pd.DataFrame({"ticket": ["t-1", "t-2"], "question": ["What is 2 + 3?", "Name a primary color."],
                  "agent_answer": ["5", "Red"], "product": ["math", "art"]}).to_parquet(data)
    code, out, doc = _evaluate(tmp_path, tiny_teacher_dir, model_cache_dir, config, data, "--format", "seeds",
                               "--columns", "prompt=question,reference=agent_answer,id=ticket,category=product")
    assert code == 0, out
    assert [(s["id"], s["prompt"], s["reference"]) for s in doc["samples"]] == [
        ("t-1", "What is 2 + 3?", "5"), ("t-2", "Name a primary color.", "Red")]
    assert doc["metrics"]["rougeL_vs_reference"]["n"] == 2


def test_a_bad_parquet_row_is_named_before_any_model_loads(tmp_path, tiny_teacher_dir, model_cache_dir, config):
    data = tmp_path / "bad.parquet"
    pd.DataFrame({"question": ["What is 2 + 3?", None]}).to_parquet(data)
    code, out, doc = _evaluate(tmp_path, tiny_teacher_dir, model_cache_dir, config, data,
                               "--columns", "prompt=question")
    assert code == 2 and doc == {}
    assert f"error: {data} row 2, column 'question': missing; it must be a non-empty string" in out
    assert "Traceback" not in out
