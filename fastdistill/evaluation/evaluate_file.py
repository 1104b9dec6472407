"""Evaluate any model on a user's prompt file: a registered version, a run's model or a local directory.

The file is read by the pipeline's loader (`fastdistill.data.formats`): any
format (seeds, alpaca, chat, or `columns` for other names) in any file type
(JSONL, JSON, CSV, Parquet, a save_to_disk folder), except that a row's
reference is optional here. Chat rows are rendered with the teacher's chat
template, as in the pipeline. The teacher answers every prompt with top-k
logprobs first, exactly as in the pipeline, so the full suite applies: the
rows play the held-out split.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fastdistill.config import EvaluationConfig, TeacherConfig
from fastdistill.data.formats import DataFileError, RenderChat, load_prompts
from fastdistill.data.splits import TEST
from fastdistill.evaluation.catalog import grouped
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.statistics import CONFIDENCE, Estimate
from fastdistill.evaluation.suite import EvalResult, evaluate_student
from fastdistill.inference.topk_store import TeacherOutputs

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


class InputError(ValueError):
    """A model URI or data file that cannot be evaluated; the message names it and says what is expected."""


def read_prompts(path: Path, fmt: str = "auto", columns: dict[str, str] | None = None,
                 render: RenderChat | None = None, render_key: str = "") -> pd.DataFrame:
    """Rows id, split='test', category, prompt, reference, messages of a prompt file in any supported format (the
    pipeline's loader; references optional); errors name the file, the row (the line, for JSONL) and the column."""
    try:
        table = load_prompts(path, fmt, columns, render, render_key, references=False)
    except DataFileError as err:
        raise InputError(str(err)) from None
    frame = table.to_pandas().assign(split=TEST)
    for name in ("reference", "messages"):  # None, not NaN, where a row has none
        frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


@dataclass
class ResolvedModel:
    path: Path
    teacher: str | None  # the teacher it was distilled from, when the registry or run recorded it
    description: str


def resolve_model_uri(uri: str, workdir: Path) -> ResolvedModel:
    """A local transformers directory for `uri`; MLflow models are loaded and saved under `workdir`."""
    if not uri.startswith(MLFLOW_SCHEMES):
        path = Path(uri)
        if not (path / "config.json").is_file():
            raise InputError(f"--model {uri}: not a model directory (no config.json) and not an MLflow URI "
                             "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/student)")
        return ResolvedModel(path.resolve(), None, f"directory {path}")
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        components = mlflow.transformers.load_model(uri, return_type="components")
    except (MlflowException, OSError) as err:
        raise InputError(f"--model {uri}: MLflow could not load it ({type(err).__name__}: {err})") from None
    out = workdir / "model"
    components["model"].save_pretrained(out)
    components["tokenizer"].save_pretrained(out)
    return ResolvedModel(out, _recorded_teacher(uri), uri)


def _recorded_teacher(uri: str) -> str | None:
    """The `teacher` tag of a registered version, or the `teacher.model` param of a run."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        if uri.startswith("models:/"):
            name, _, ref = uri.removeprefix("models:/").partition("@")
            if ref:
                version = client.get_model_version_by_alias(name, ref)
            else:
                name, _, number = name.partition("/")
                version = client.get_model_version(name, number)
            return version.tags.get("teacher")
        if uri.startswith("runs:/"):
            run_id = uri.removeprefix("runs:/").split("/", 1)[0]
            return client.get_run(run_id).data.params.get("teacher.model")
    except MlflowException:
        return None
    return None


def evaluate_file(model_uri: str, data: Path, teacher_config: TeacherConfig, config: EvaluationConfig,
                  teacher_spec: str | None = None, fmt: str = "auto",
                  columns: dict[str, str] | None = None) -> tuple[dict, EvalResult]:
    """The whole suite on `data` (in format `fmt`, `columns` renamed); returns (the JSON document, the raw result)."""
    from fastdistill.evaluation.judge import judge_for
    from fastdistill.inference.chat import render_conversation
    from fastdistill.inference.hf import HFBackend
    from fastdistill.inference.labelling import label
    from fastdistill.models import check_vocab_compatible, resolve_model

    with tempfile.TemporaryDirectory(prefix="fastdistill-eval-") as work:
        model = resolve_model_uri(model_uri, Path(work))
        spec = teacher_spec or model.teacher or teacher_config.model
        teacher_config = teacher_config.model_copy(update={"model": spec})
        teacher_dir = resolve_model(spec)
        check_vocab_compatible(teacher_dir, model.path)
        teacher = HFBackend(teacher_dir)
        frame = read_prompts(data, fmt, columns, lambda turns: render_conversation(teacher.tokenizer, turns), spec)
        outputs = label(teacher, frame, teacher_config)
        student = HFBackend(model.path)
        judge, judge_name = judge_for(config, teacher, spec)
        result = evaluate_student(student, outputs, config.model_copy(update={"max_examples": None}), teacher, judge,
                                  student_dir=model.path, teacher_dir=teacher_dir,
                                  judge_name=judge_name, teacher_name=spec)
    estimates = {name: estimate_json(e) for name, e in result.scores.estimates().items()}
    document = {"model": model_uri, "resolved": model.description, "teacher": spec, "data": str(data),
                "split": TEST, "examples": len(result.scores.ids), "confidence": CONFIDENCE,
                "metrics": estimates, "groups": grouped(estimates),
                "warnings": [w.model_dump() for w in result.warnings], **result.details,
                "samples": [sample.model_dump() for sample in result.samples]}
    return document, result


def estimate_json(estimate: Estimate) -> dict:
    """{value, n, ci_low, ci_high}: a metric as the JSON output holds it (no CI: nulls)."""
    return {"value": estimate.value, "n": estimate.n, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high}


def rescore(model_uri: str, outputs: TeacherOutputs, config: EvaluationConfig) -> Scores:
    """A registered model's scores on the test split of `outputs` (quality and fidelity; no judge or speed), so a
    champion scored on another test set can be compared with a challenger on this one."""
    from fastdistill.inference.hf import HFBackend

    with tempfile.TemporaryDirectory(prefix="fastdistill-rescore-") as work:
        model = resolve_model_uri(model_uri, Path(work))
        quick = config.model_copy(update={"judge_pairs": 0, "efficiency_prompts": 0})
        return evaluate_student(HFBackend(model.path), outputs, quick).scores


def write_json(document: dict, path: Path) -> None:
    """Written aside and renamed: a failed write never leaves a partial file, nor the file written aside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(document, indent=2, default=str))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
