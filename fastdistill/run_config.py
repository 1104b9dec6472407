"""A run YAML, loaded and checked before anything runs.

`load_run_config` reads the file, refuses unknown top-level keys (ZenML's
run configuration has a fixed set), validates `parameters:` with the typed
sections of `fastdistill.config`, and then runs the checks a section cannot
do alone: the seeds file is read strictly (a bad line stops the run with its
file and line number), and the sweep is expanded (a bad grid value, an
objective without the data it needs). Any problem raises `ConfigError` with
one line per problem, each naming the field path, what was wrong and what
would be right.

`resolved_document` is the YAML that ZenML then runs: the user's file with
`parameters:` replaced by the validated, filled-in values of the sections the
pipeline takes (`pipeline_parameters`); `write_resolved_config` writes it
under `.fastdistill/runs/`.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fastdistill.config import RunConfig
from fastdistill.data.formats import load_prompts
from fastdistill.data.seeds import SeedFileError
from fastdistill.training.sweep import expand_trials, with_trial_step_settings

# Keys of ZenML 0.98's PipelineRunConfiguration; anything else at the top level is a typo.
ZENML_TOP_LEVEL_KEYS = frozenset({
    "run_name", "enable_cache", "enable_artifact_metadata", "enable_artifact_visualization",
    "enable_step_logs", "enable_pipeline_logs", "enable_heartbeat", "schedule", "build", "steps", "settings",
    "environment", "secrets", "tags", "extra", "model", "parameters", "retry", "init_hook_source",
    "init_hook_kwargs", "cleanup_hook_source", "failure_hook_source", "success_hook_source",
    "start_hook_source", "end_hook_source", "pause_hook_source", "resume_hook_source", "substitutions",
    "cache_policy", "execution_mode", "skip_successful_steps", "steps_to_skip", "step_input_overrides",
    "step_default_input_overrides",
})


class ConfigError(ValueError):
    """A run config that cannot run; the message lists every problem, one per line."""


def _describe(error: dict[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; see `python run.py distill --help` for the sections)"
    if kind == "literal_error":
        return f"{path} = {error['input']!r} is not allowed: {msg.removeprefix('Input should be ')}"
    msg = msg.removeprefix("Value error, ")
    return f"{path}: {msg} (got {error['input']!r})" if kind != "value_error" else f"{path}: {msg}"


def _cross_checks(params: RunConfig) -> list[str]:
    """Checks that need a file or another stage: the data files (read strictly, in their format), the
    decontamination files, what chat data allows, and the trials the sweep asks for."""
    data, chat_rows = params.data, 0
    try:
        for path in (data.path, data.test_path):
            if path is not None:  # bad lines, missing columns, duplicate ids, bad bytes
                table = load_prompts(path, data.format, data.columns, min_rows=2)  # Arrow on disk, not in memory
                chat_rows += len(table) - table.data.column("messages").null_count
    except SeedFileError as err:
        return [f"data: {err}"]
    try:
        for path in params.gate.decontaminate:
            load_prompts(path)  # any format, detected from its columns
    except SeedFileError as err:
        return [f"gate.decontaminate: {err}"]
    if chat_rows and params.synthesis.enabled:
        return [f"data: {data.path} holds chat conversations; set synthesis.enabled: false (Self-Instruct and "
                "Evol-Instruct write single-turn prompts from single-turn examples)"]
    if chat_rows and params.teacher.rationales:
        return ["teacher.rationales: not supported for chat conversations (the rationale request is appended to a "
                "single-turn prompt); set it to false"]
    try:
        trials = expand_trials(params.sweep, params.training, params.student)
    except ValueError as err:
        return [str(err)]  # names the grid key: "sweep.grid.beta = ..."
    problems = []
    voted = params.synthesis.enabled and bool(params.synthesis.rationale_categories)  # majority rationales reach training
    if any(t.training.objective_record.needs_rationales for t in trials) and not (params.teacher.rationales or voted):
        needing = sorted({t.training.objective for t in trials if t.training.objective_record.needs_rationales})
        problems.append(f"training.objective {', '.join(needing)} needs teacher.rationales: true or "
                        "synthesis.rationale_categories (rationale and answer to learn from)")
    for field, budget in (("evaluation.max_new_tokens", params.evaluation.max_new_tokens),
                          ("sweep.eval_max_new_tokens", params.sweep.eval_max_new_tokens)):
        if budget > params.teacher.max_new_tokens:
            problems.append(f"{field} ({budget}) exceeds teacher.max_new_tokens ({params.teacher.max_new_tokens}): the "
                            "student would be compared with teacher answers generated under a smaller budget; lower "
                            "it or raise teacher.max_new_tokens (student and teacher are compared at the same budget)")
    if params.teacher.temperature > 0:
        problems.append(f"teacher.temperature {params.teacher.temperature}: the student is evaluated greedily against "
                        "the teacher's stored answers, which must then be greedy too (temperature 0)")
    if "num_layers" in params.sweep.grid and params.student.model is not None:
        problems.append("sweep.grid.num_layers builds students from the teacher's layers; unset student.model")
    return problems + _shape_problems(params)


def _shape_problems(params: RunConfig) -> list[str]:
    """The student (layers, vocabulary) and the token budget against the teacher's shape, where known without
    loading a model (`fastdistill.models.shapes`)."""
    return _layer_problems(params) + _vocabulary_problems(params) + _budget_problems(params)


def _layer_problems(params: RunConfig) -> list[str]:
    from fastdistill.models.shapes import teacher_layers

    spec, layers = params.teacher.model, teacher_layers(params.teacher.model)
    asked = [("student.num_layers", params.student.num_layers)]
    asked += [("sweep.grid.num_layers", n) for n in params.sweep.grid.get("num_layers", [])]
    return [f"{field} ({wanted}) exceeds the teacher {spec}'s {layers} layers: a student is built from the teacher's "
            f"own layers; use at most {layers}"
            for field, wanted in asked if layers is not None and isinstance(wanted, int) and wanted > layers]


def _vocabulary_problems(params: RunConfig) -> list[str]:
    from fastdistill.models.shapes import vocabulary_mismatch

    student = params.student.model
    why = None if student is None else vocabulary_mismatch(params.teacher.model, student)
    return [f"student.model {student}: {why}"] if why else []


def _budget_problems(params: RunConfig) -> list[str]:
    from fastdistill.models.shapes import chat_template_tokens

    template, training, gate = chat_template_tokens(params.teacher.model), params.training, params.gate
    if template is None or template + gate.min_prompt_tokens <= training.max_length:
        return []
    return [(f"training.max_length ({training.max_length}) fits no example: the teacher's chat template takes "
             f"{template} tokens and every prompt at least gate.min_prompt_tokens ({gate.min_prompt_tokens}), leaving "
             f"no token of the answer; use at least {template + gate.min_prompt_tokens + 1}")]


def validate_parameters(parameters: dict[str, Any], source: str = "config") -> RunConfig:
    """The validated `parameters:` of a run, or `ConfigError` listing every problem."""
    try:
        params = RunConfig.model_validate(parameters)
    except ValidationError as err:
        raise ConfigError(_joined(source, [_describe(e) for e in err.errors()])) from None
    problems = _cross_checks(params)
    if problems:
        raise ConfigError(_joined(source, problems))
    return params


def _joined(source: str, lines: list[str]) -> str:
    return f"{source}: " + f"\n{' ' * (len(source) + 2)}".join(lines)


def load_run_config(path: Path) -> tuple[dict[str, Any], RunConfig]:
    """Read a run YAML; return the raw document and its validated parameters."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if document is None:  # an empty file would otherwise run every default: the quickstart's whole run
        raise ConfigError(f"{path}: the file is empty; a run YAML needs a parameters: section "
                          "(`parameters: {}` runs every default)")
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with model:, settings:, parameters:, steps: keys")
    unknown = sorted(set(document) - ZENML_TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}; FastDistill settings go under parameters:")
    if "parameters" not in document:
        raise ConfigError(f"{path}: no parameters: section; FastDistill's settings go there "
                          "(`parameters: {}` runs every default)")
    return document, validate_parameters(document.get("parameters") or {}, str(path))


def check_zenml_fields(document: dict[str, Any], source: str) -> None:
    """ZenML's own fields of a run YAML, validated by ZenML's models as the run would, but before it starts.

    ZenML ignores unknown keys inside a `steps:` entry, so those are refused here (a misspelled
    `enable_cache` would otherwise do nothing). Imports ZenML: only the commands that run pipelines call it.
    """
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.config.step_configurations import StepConfigurationUpdate

    problems = [f"steps.{step}.{key}: unknown key; a step takes {sorted(StepConfigurationUpdate.model_fields)}"
                for step, entry in (document.get("steps") or {}).items() if isinstance(entry, dict)
                for key in entry if key not in StepConfigurationUpdate.model_fields]
    try:
        PipelineRunConfiguration.model_validate({k: v for k, v in document.items() if k != "parameters"})
    except ValidationError as err:
        problems += [_describe(e) for e in err.errors()]
    if problems:
        raise ConfigError(_joined(source, problems))


def resolved_document(document: dict, params: RunConfig, accepted: set[str], no_cache: bool = False) -> dict:
    """The run YAML ZenML runs: `parameters:` replaced by the validated values of the sections the pipeline takes.

    `steps: train_student:` is copied to every sweep trial's step id (ZenML keys `steps:` by id), and
    `no_cache` turns the run-level cache off.
    """
    values = params.model_dump(mode="json")
    resolved = {**document, "parameters": {k: v for k, v in values.items() if k in accepted}}
    trial_ids = [t.step_id for t in expand_trials(params.sweep, params.training, params.student)]
    if document.get("steps"):
        resolved["steps"] = with_trial_step_settings(document["steps"], trial_ids)
    if no_cache:
        resolved["enable_cache"] = False
    return resolved


RUNS_DIR = Path(".fastdistill") / "runs"


def pipeline_parameters(pipeline) -> set[str]:
    """The parameter names of a ZenML pipeline: the `parameters:` sections it takes (`distill` has no born_again)."""
    return set(inspect.signature(pipeline.entrypoint).parameters)


def pipeline_sections(params: RunConfig, pipeline) -> dict[str, Any]:
    """The validated sections that `pipeline` takes as parameters, by name."""
    accepted = pipeline_parameters(pipeline)
    return {name: getattr(params, name) for name in type(params).model_fields if name in accepted}


def write_resolved_config(config_path: Path, document: dict, params: RunConfig, accepted: set[str], root: Path,
                          no_cache: bool = False, now: datetime | None = None) -> Path:
    """Write the `resolved_document` to `<root>/.fastdistill/runs/<UTC time>-<config name>.yaml`; return its path."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    out = root / RUNS_DIR / f"{stamp}-{config_path.stem}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(resolved_document(document, params, accepted, no_cache), sort_keys=False))
    return out
