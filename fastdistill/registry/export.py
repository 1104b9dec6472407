"""Take the student away: a registered (or logged) model as a standalone Hugging Face folder.

`export_student("models:/fastdistill-student@champion", Path("student"))` writes `config.json`, safetensors
weights, `generation_config.json`, the tokenizer with its chat template, and a model card `README.md`
(`fastdistill.registry.model_card`). The folder loads with `AutoModelForCausalLM.from_pretrained(DIR)` and
`AutoTokenizer.from_pretrained(DIR)` alone and is what vLLM serves: no custom code, no MLflow files.

Everything that can be wrong with the request (an unknown model, version, alias or run, an output folder that
exists and is not empty) is found before anything is written. The folder is built in a temporary directory
beside the output and renamed into place at the end, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from fastdistill.registry.model_card import CardFacts, facts_from_tags, render

_ALIAS = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)")
_VERSION = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")
_RUN = re.compile(r"runs:/(?P<run>[^/]+)/(?P<path>.+)")
FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/ARTIFACT_PATH (e.g. runs:/<id>/student)"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")


class ExportError(ValueError):
    """An export that cannot be done: the message names the URI or folder and what is wrong."""


@dataclass
class Source:
    """What a URI names: the exact model to load (an alias resolved to its version), and where its facts live."""

    uri: str
    load_uri: str
    name: str = ""
    version: str | None = None
    aliases: list[str] = field(default_factory=list)
    run_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Exported:
    path: Path
    source: Source
    files: list[str]
    card: CardFacts
    warnings: list[str]


def export_student(uri: str, output: Path, client=None) -> Exported:
    """Write the model `uri` names into the new folder `output`; see the module docstring."""
    import mlflow
    from mlflow.tracking import MlflowClient

    output = Path(output)
    check_output(output)
    check_store(mlflow.get_tracking_uri())
    client = client or MlflowClient()
    source = resolve(uri, client)
    created = _missing_parents(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:12]}"
    work.mkdir()  # not mkdtemp: its mode 0700 would make the export unreadable to a server running as another user
    try:
        facts, warnings = _build(source, client, work)
        files = _check_folder(work)
        _apply_umask(work)
        if output.is_dir():  # empty (checked above): replaced by the finished folder
            output.rmdir()
        os.replace(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        for parent in created:  # innermost first; only those this export made, and only while empty
            try:
                parent.rmdir()
            except OSError:
                break
        raise
    return Exported(output, source, files, facts, warnings)


def check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise ExportError(f"--output {output} exists and is a file; name a new (or empty) folder")
    if output.is_dir() and any(output.iterdir()):
        raise ExportError(f"--output {output} exists and is not empty; name a new (or empty) folder")


def check_store(tracking_uri: str) -> None:
    """The store can be read. A SQLite store that does not exist holds no model, and opening it would create it
    (writing something); a server that does not answer is named at once instead of after MLflow's retries."""
    from fastdistill.infra.preflight import PreflightError, check_tracking_store, sqlite_path

    scheme = urlparse(tracking_uri).scheme
    if scheme == "sqlite" and not sqlite_path(tracking_uri).is_file():
        raise ExportError(f"the MLflow store {tracking_uri} does not exist (no {sqlite_path(tracking_uri)}): "
                          "nothing has been registered there; pass --tracking-uri to the store that holds the model")
    if scheme in ("http", "https"):
        try:
            check_tracking_store(tracking_uri, credentials=False)
        except PreflightError as err:
            raise ExportError(str(err)) from None


def resolve(uri: str, client) -> Source:
    """The model `uri` names, with its registry facts; one-line errors name the URI and what exists instead."""
    from mlflow.exceptions import MlflowException

    if match := _ALIAS.fullmatch(uri):
        name = match["name"]
        aliases = _registered_aliases(client, uri, name)
        if match["alias"] not in aliases:
            raise ExportError(f"{uri}: {name} has no alias '{match['alias']}'; its aliases: "
                              f"{', '.join(f'{a} -> v{v}' for a, v in sorted(aliases.items())) or 'none'}")
        return _version_source(client, uri, name, aliases[match["alias"]], aliases)
    if match := _VERSION.fullmatch(uri):
        name = match["name"]
        aliases = _registered_aliases(client, uri, name)
        return _version_source(client, uri, name, match["version"], aliases)
    if match := _RUN.fullmatch(uri):
        try:
            run = client.get_run(match["run"])
        except MlflowException:
            raise ExportError(f"{uri}: there is no run {match['run']} in the MLflow store") from None
        _check_transformers_model(uri)
        registered = client.search_model_versions(f"run_id='{run.info.run_id}'")  # its registration, if any
        tags = dict(registered[0].tags) if len(registered) == 1 else {}
        return Source(uri=uri, load_uri=uri, run_id=run.info.run_id, tags={**_run_tags(run), **tags})
    raise ExportError(f"{uri}: not a model URI; use {FORMS}")


def _registered_aliases(client, uri: str, name: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models())
        raise ExportError(f"{uri}: there is no registered model '{name}'; registered models: "
                          f"{', '.join(names) or 'none'}") from None
    return {alias: str(version) for alias, version in model.aliases.items()}


def _version_source(client, uri: str, name: str, version: str, aliases: dict[str, str]) -> Source:
    from mlflow.exceptions import MlflowException

    from fastdistill.registry.transaction import INCOMPLETE, STATE_TAG

    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        versions = sorted((str(v.version) for v in client.search_model_versions(f"name='{name}'")), key=int)
        raise ExportError(f"{uri}: {name} has no version {version}; its versions: {', '.join(versions) or 'none'}") \
            from None
    if found.tags.get(STATE_TAG) == INCOMPLETE:
        raise ExportError(f"{uri}: {name} v{version} is a registration that has not finished (or crashed); "
                          "`run.py registry repair` removes it")
    load_uri = f"models:/{name}/{version}"  # an alias may move while we copy: load the version it named now
    _check_transformers_model(load_uri)
    return Source(uri=uri, load_uri=load_uri, name=name, version=str(version), run_id=found.run_id or "",
                  aliases=sorted(a for a, v in aliases.items() if v == str(version)), tags=dict(found.tags))


def _check_transformers_model(uri: str) -> None:
    """The URI holds an MLflow model of the transformers flavour (reads only its small MLmodel file)."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="fastdistill-mlmodel-") as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(artifact_uri=f"{uri.rstrip('/')}/MLmodel", dst_path=tmp)
        except (MlflowException, OSError):
            raise ExportError(f"{uri}: holds no MLflow model (no MLmodel file there)") from None
        flavors = (yaml.safe_load(Path(path).read_text()) or {}).get("flavors", {})
    if "transformers" not in flavors:
        raise ExportError(f"{uri}: is an MLflow model of flavour(s) {sorted(flavors)}, not a transformers model")


def _run_tags(run) -> dict[str, str]:
    """What a run (not a registered version) says about the model: the teacher it was trained from."""
    tags = {"eval_split": run.data.tags.get("fastdistill.eval_split", "")}
    if teacher := run.data.params.get("teacher.model"):
        tags["teacher"] = teacher
    return {k: v for k, v in tags.items() if v}


def _build(source: Source, client, work: Path) -> tuple[CardFacts, list[str]]:
    import mlflow
    from mlflow.exceptions import MlflowException

    from fastdistill.registry.mlflow_registry import stored_evaluation_of_run

    try:
        parts = mlflow.transformers.load_model(source.load_uri, return_type="components")
    except (MlflowException, OSError) as err:
        raise ExportError(f"{source.uri}: MLflow could not load it ({type(err).__name__}: {err})") from None
    model, tokenizer = parts["model"], parts["tokenizer"]
    if getattr(model.config, "auto_map", None):
        raise ExportError(f"{source.uri}: its config needs custom code (auto_map {model.config.auto_map}); "
                          "vLLM and from_pretrained would need trust_remote_code")
    _complete_generation_config(model, tokenizer)
    model.save_pretrained(work)  # safetensors, config.json, generation_config.json
    tokenizer.save_pretrained(work)
    warnings = []
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if not has_template:
        warnings.append(f"{source.uri}: its tokenizer has no chat template; the export takes plain-text prompts")
    evaluation = stored_evaluation_of_run(client, source.run_id) if source.run_id else None
    facts = facts_from_tags(source.tags, evaluation, name=source.name, version=source.version,
                            aliases=source.aliases, source=source.uri, mlflow_run_id=source.run_id,
                            chat_template=has_template)
    (work / "README.md").write_text(render(facts), encoding="utf-8")
    return facts, warnings


def _complete_generation_config(model, tokenizer) -> None:
    """`generation_config.json` with the end and padding tokens set, so `generate` and vLLM stop where the chat
    template ends a turn; values already there are kept."""
    from transformers import GenerationConfig

    if getattr(model, "generation_config", None) is None:
        model.generation_config = GenerationConfig.from_model_config(model.config)
    generation = model.generation_config
    if generation.eos_token_id is None and tokenizer.eos_token_id is not None:
        generation.eos_token_id = tokenizer.eos_token_id
    if generation.pad_token_id is None and tokenizer.pad_token_id is not None:
        generation.pad_token_id = tokenizer.pad_token_id


def _check_folder(folder: Path) -> list[str]:
    """The files a plain `from_pretrained` (and vLLM) need are all there, and no MLflow or pickle weights."""
    files = sorted(p.name for p in folder.iterdir())
    missing = [name for name in ("config.json", "generation_config.json", "tokenizer_config.json", "README.md")
               if name not in files]
    if not any(name in files for name in WEIGHTS):
        missing.append("model.safetensors")
    if missing:
        raise ExportError(f"the exported folder lacks {', '.join(missing)}; nothing was written")
    if any(name.endswith((".bin", ".pt", ".pkl")) for name in files):
        raise ExportError(f"the exported folder has pickled weights ({files}); only safetensors are exported")
    json.loads((folder / "config.json").read_text())  # well-formed, or this raises before the rename
    return files


def _apply_umask(folder: Path) -> None:
    """Files as readable as any other the user writes: some writers (safetensors' atomic save, MLflow's download)
    leave 0600, which a server running as another user could not read."""
    mask = os.umask(0)
    os.umask(mask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)


def _missing_parents(path: Path) -> list[Path]:
    """The ancestors of `path` that do not exist yet, innermost first (what a failure must remove again)."""
    missing = []
    parent = path.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return missing
