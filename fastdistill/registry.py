"""MLflow model registry: register a student as `challenger`, promote it to `champion` if it wins.

The score a version was registered with is stored on the version as tag
`metric.<name>`, so a promotion decision never depends on a source run that
may have been deleted or that logged its metrics under another key (the
champion's source run is only read as a fallback, for versions registered by
other means). Registration is all-or-nothing: if anything fails once the
version exists, the version is deleted and the aliases are put back as they
were before the error propagates.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"
ARTIFACT_NAME = "student"
# Pinned in the logged model's requirements; listing them avoids MLflow's inference, which
# re-loads the model in a subprocess and imports optional packages we do not ship.
REQUIRED_PACKAGES = ("torch", "transformers", "accelerate", "safetensors")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    aliases: list[str]
    promoted: bool
    reason: str
    model_uri: str


def register_student(
    model_dir: Path,
    *,
    name: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    metric: str,
    greater_is_better: bool,
    min_delta: float = 0.0,
) -> Registration:
    """Log the model in the active MLflow run, register it as a new version of `name`, set the aliases."""
    score = _score(metrics, metric)
    model_dir = Path(model_dir).resolve()  # absolute: a relative "a/b" would look like a Hub repo id to MLflow
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"model_dir {model_dir} is not a transformers model directory (no config.json)")
    if mlflow.active_run() is None:
        raise RuntimeError("register_student needs an active MLflow run (the step's experiment tracker run)")
    info = _log_transformers_model(model_dir, metrics, tags)
    client = MlflowClient()
    existed = _exists(client, name)
    aliases_before = _aliases(client, name) if existed else {}
    version = None
    try:
        version = mlflow.register_model(info.model_uri, name, tags={**tags, f"metric.{metric}": str(score)}).version
        return _set_aliases(client, name, str(version), score, metric, greater_is_better, min_delta)
    except BaseException as err:
        _roll_back(client, name, version, aliases_before, existed, err)
        raise


def decide(score: float, champion_score: float | None, greater_is_better: bool, min_delta: float,
           metric: str) -> tuple[bool, str]:
    """Whether a challenger with `score` replaces the champion, and one sentence saying why."""
    if champion_score is None:
        return True, f"there is no champion yet: promoted with {metric} = {score:.4f}"
    margin = score - champion_score if greater_is_better else champion_score - score
    promoted = margin > min_delta
    ours, theirs = _distinct(score, champion_score)
    verdict = "beats" if promoted else "does not beat"
    direction = "higher" if greater_is_better else "lower"
    return promoted, (f"{metric} {ours} {verdict} the champion's {theirs} by more than {min_delta} "
                      f"({direction} is better)")


def _score(metrics: dict[str, float], metric: str) -> float:
    """The configured metric's value; errors name the metric and what was measured instead."""
    if metric not in metrics:
        raise ValueError(f"registry.metric '{metric}' was not measured; available: {sorted(metrics)}")
    score = float(metrics[metric])
    if not math.isfinite(score):
        raise ValueError(f"registry.metric '{metric}' is {score}: a version cannot be ranked by a non-finite score")
    return score


def _distinct(a: float, b: float) -> tuple[str, str]:
    """Format two numbers with 4 decimals, or as many more as it takes to tell different ones apart."""
    for places in range(4, 13):
        fa, fb = f"{a:.{places}f}", f"{b:.{places}f}"
        if fa != fb or a == b:
            return fa, fb
    return repr(a), repr(b)


def _log_transformers_model(model_dir: Path, metrics: dict[str, float], tags: dict[str, str]):
    """Log loaded components, with a model card written here so that MLflow never asks the Hub for one.

    Components, not the directory path: MLflow 3.17's path-based logging
    fails on transformers 5 task metadata ('str' object has no attribute
    '__name__'). Without `model_card`, MLflow calls `ModelCard.load(<path>)`
    and warns that no card or license could be found.
    """
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    components = {"model": AutoModelForCausalLM.from_pretrained(model_dir),
                  "tokenizer": AutoTokenizer.from_pretrained(model_dir)}
    requirements = [f"{p}=={importlib.metadata.version(p).split('+')[0]}" for p in REQUIRED_PACKAGES]
    card = _model_card(ModelCard, metrics, tags)
    with warnings.catch_warnings():
        # Emitted once, when log_model first imports mlflow.pyfunc (MLflow's own response types), not our model.
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning)
        return mlflow.transformers.log_model(transformers_model=components, name=ARTIFACT_NAME,
                                             task="text-generation", pip_requirements=requirements, model_card=card)


def _model_card(card_class, metrics: dict[str, float], tags: dict[str, str]):
    header = yaml.safe_dump({"library_name": "transformers", "pipeline_tag": "text-generation",
                             "tags": ["fastdistill", "distillation"]}, sort_keys=False)
    lines = [f"- {key}: {value}" for key, value in sorted({**tags, **metrics}.items())]
    return card_class(f"---\n{header}---\n# FastDistill student\n\n" + "\n".join(lines) + "\n")


def _exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def _aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def _champion_score(client: MlflowClient, champion, metric: str) -> float | None:
    """The champion's score: its version tag, else its source run's metric, else None."""
    tagged = champion.tags.get(f"metric.{metric}")
    if tagged is not None:
        return float(tagged)
    if champion.run_id:
        try:
            return client.get_run(champion.run_id).data.metrics.get(metric)
        except MlflowException:  # source run deleted
            return None
    return None


def _set_aliases(client: MlflowClient, name: str, version: str, score: float, metric: str,
                 greater_is_better: bool, min_delta: float) -> Registration:
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    champion_score = _champion_score(client, champion, metric) if champion is not None else None
    if champion is not None and champion_score is None:
        promoted, reason = True, (f"champion v{champion.version} has no recorded {metric}: "
                                  f"replaced by v{version} with {metric} = {score:.4f}")
    else:
        promoted, reason = decide(score, champion_score, greater_is_better, min_delta, metric)
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    if promoted:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, champion.version)
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    log.info("registered %s v%s (%s): %s", name, version, ", ".join(aliases), reason)
    return Registration(name, version, aliases, promoted, reason, f"models:/{name}/{version}")


def _roll_back(client: MlflowClient, name: str, version, aliases_before: dict[str, str], existed: bool,
               err: BaseException) -> None:
    """Undo a failed registration: delete the new version, restore aliases, drop a model created for it.

    Every undo step is attempted; what could not be undone is attached to
    the original error as a note rather than replacing it.
    """
    failures = []

    def attempt(what: str, action) -> None:
        try:
            action()
        except Exception as undo_err:  # keep undoing; report below
            failures.append(f"{what}: {type(undo_err).__name__}: {undo_err}")

    if version is not None:
        attempt(f"delete version {version}", lambda: client.delete_model_version(name, str(version)))
    if not existed:
        if _exists(client, name):
            attempt(f"delete registered model {name}", lambda: client.delete_registered_model(name))
    else:
        current: dict[str, str] = {}
        attempt("read aliases", lambda: current.update(_aliases(client, name)))
        for alias, old in aliases_before.items():
            if current.get(alias) != old:
                attempt(f"restore alias {alias} -> v{old}",
                        lambda a=alias, v=old: client.set_registered_model_alias(name, a, v))
        for alias in current.keys() - aliases_before.keys():
            attempt(f"remove alias {alias}", lambda a=alias: client.delete_registered_model_alias(name, a))
    if failures:
        err.add_note(f"registry rollback of {name} incomplete: " + "; ".join(failures))
