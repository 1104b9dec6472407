"""MLflow model registry: register a student as `challenger`, promote it to `champion` if it wins.

The champion's score is stored on its version as tag `metric.<name>`, so a
promotion decision never depends on a source run that may have been deleted.
Registration is all-or-nothing: if anything fails after the version exists,
the version is deleted before the error propagates.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    aliases: list[str]
    promoted: bool
    reason: str
    model_uri: str


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def decide(score: float, champion_score: float | None, greater_is_better: bool, min_delta: float, metric: str) -> tuple[bool, str]:
    """Whether a challenger with `score` replaces the champion, and one sentence saying why."""
    if champion_score is None:
        return True, f"no champion yet: promoted with {metric} = {score:.4f}"
    margin = score - champion_score if greater_is_better else champion_score - score
    verdict = "beats" if margin > min_delta else "does not beat"
    return margin > min_delta, (
        f"{metric} {score:.4f} {verdict} the champion's {champion_score:.4f} by more than {min_delta} "
        f"({'higher' if greater_is_better else 'lower'} is better)"
    )


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
    """Log the model in the active MLflow run, register it and set the aliases."""
    if metric not in metrics:
        raise ValueError(f"registry.metric '{metric}' was not measured; available: {sorted(metrics)}")
    if mlflow.active_run() is None:
        raise RuntimeError("register_student needs an active MLflow run (the step's experiment tracker run)")
    info = _log_transformers_model(Path(model_dir))
    client = MlflowClient()
    version_tags = {**tags, f"metric.{metric}": str(metrics[metric])}
    version = mlflow.register_model(info.model_uri, name, tags=version_tags)
    try:
        return _set_aliases(client, name, version.version, metrics[metric], metric, greater_is_better, min_delta)
    except Exception:
        client.delete_model_version(name, version.version)  # no half-registered version is left behind
        raise


def _log_transformers_model(model_dir: Path):
    """Log loaded components: MLflow 3.17's path-based logging trips over transformers 5 task metadata."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    components = {"model": AutoModelForCausalLM.from_pretrained(model_dir), "tokenizer": AutoTokenizer.from_pretrained(model_dir)}
    # Explicit requirements: MLflow's inference imports optional packages (torchvision) we do not ship.
    requirements = [f"{p}=={importlib.metadata.version(p)}" for p in ("torch", "transformers", "accelerate", "safetensors")]
    return mlflow.transformers.log_model(transformers_model=components, name="student", task="text-generation",
                                         pip_requirements=[r.split("+")[0] for r in requirements])


def _set_aliases(client: MlflowClient, name: str, version: str, score: float, metric: str,
                 greater_is_better: bool, min_delta: float) -> Registration:
    champion = _champion(client, name)
    champion_score = float(champion.tags[f"metric.{metric}"]) if champion and f"metric.{metric}" in champion.tags else None
    if champion is not None and champion_score is None:
        promoted, reason = True, f"champion v{champion.version} has no recorded {metric}: replaced with {metric} = {score:.4f}"
    else:
        promoted, reason = decide(score, champion_score, greater_is_better, min_delta, metric)
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    if promoted:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS, champion.version)
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    return Registration(name, str(version), aliases, promoted, reason, f"models:/{name}/{version}")
