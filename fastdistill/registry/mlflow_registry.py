"""MLflow model registry: register a student as `challenger`; the promotion gate
(`fastdistill.registry.promotion`) decides whether it becomes `champion`.

On promotion the old champion keeps its version and gets `previous-champion`.

Every metric a version was registered with is stored on the version as tag
`metric.<name>`, so a decision never depends on a source run that may have
been deleted (the champion's source run is only read as a fallback, for
versions registered by other means). The decision is recorded as tags
`promotion.decision` and `promotion.reason`.

Registration is a transaction (`fastdistill.registry.transaction`): if
anything fails once the version exists, the version is deleted and the
aliases are put back before the error propagates; a crash leaves at most a
version tagged incomplete, which the next registration, manual promotion or
`run.py registry repair` removes. An unreachable tracking server is detected
before anything is written. Alias changes happen under a registry-wide lock
with an owner and a lease (`fastdistill.registry.lock`), so two promotions
racing are serialised: each one's `previous-champion` is the champion it
really replaced, and there is exactly one champion at the end.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import logging
import math
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict

from fastdistill.evaluation.scores import EvalMetrics
from fastdistill.registry import model_card, transaction
from fastdistill.registry.lock import LOCK_SUFFIX, LockHeld, PromotionLock  # noqa: F401 (re-exported)
from fastdistill.registry.promotion import (
    Decision,
    Identity,
    Policy,
    gate,
    incomparable,
)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"
ARTIFACT_NAME = "student"
# MLflow's inference tasks for a text-generation model: what `mlflow models serve` accepts and answers.
CHAT_TASK, COMPLETIONS_TASK = "llm/v1/chat", "llm/v1/completions"
EVALUATION_ARTIFACT = "registry/evaluation.json"  # the EvalMetrics a version was registered with
# Pinned in the logged model's requirements; listing them avoids MLflow's inference, which
# re-loads the model in a subprocess and imports optional packages we do not ship.
REQUIRED_PACKAGES = ("torch", "transformers", "accelerate", "safetensors")

log = logging.getLogger(__name__)
_exists, _aliases = transaction.exists, transaction.aliases

# Called with (stage, version tags) after the aliases moved: "production" for a new champion, "staging" for
# a challenger. The pipeline passes one that keeps ZenML's Model Control Plane stage in step (`model_stage`).
StageSync = Callable[[str, dict[str, str]], None]


class RegistryUnreachable(RuntimeError):
    """The MLflow tracking/registry server cannot be reached; nothing was written."""


class Registration(BaseModel):
    """A registered version and what the promotion gate (or a manual promotion) did with it.

    The registry steps return it as their `registration` artifact (ZenML stores pydantic models as JSON).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    aliases: list[str]
    promoted: bool
    reason: str
    model_uri: str
    decision: str = ""  # promote / hold / manual / unchanged
    previous_champion: str | None = None


def check_reachable(tracking_uri: str | None = None, timeout_s: float = 5.0) -> None:
    """Raise `RegistryUnreachable` (naming the URI) if an http(s) tracking server does not answer.

    MLflow's own client retries with back-off for minutes before failing; a
    run should fail at once, before it writes anything.
    """
    uri = tracking_uri or mlflow.get_tracking_uri()
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    import requests

    try:
        response = requests.get(uri.rstrip("/") + "/health", timeout=timeout_s)
    except requests.RequestException as err:
        raise RegistryUnreachable(
            f"MLflow at {uri} is unreachable ({type(err).__name__}); start the server or set "
            "MLFLOW_TRACKING_URI / --tracking-uri to a reachable one. Nothing was registered."
        ) from None
    if response.status_code >= 500:
        raise RegistryUnreachable(f"MLflow at {uri} answered HTTP {response.status_code} on /health; "
                                  "nothing was registered")


Rescore = Callable[[str], "EvalMetrics | None"]
"""Scores the champion (a `models:/NAME/VERSION` URI) on the challenger's test set; None when it cannot."""


def register_student(
    model_dir: Path,
    *,
    name: str,
    evaluation: EvalMetrics,
    tags: dict[str, str],
    policy: Policy,
    allow_teacher_change: bool = False,
    rescore: Rescore | None = None,
    stage_sync: StageSync | None = None,
) -> Registration:
    """Log the model in the active MLflow run, register it as a new version of `name`, run the gate, set the aliases.

    The champion is compared like with like (`_champion_scores`): the same teacher, and the same test set, on
    which it is re-scored first (with `rescore`) when it was scored on another one; otherwise the version is held.
    """
    metrics = evaluation.values
    _score(metrics, policy.metric)
    model_dir = Path(model_dir).resolve()  # absolute: a relative "a/b" would look like a Hub repo id to MLflow
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"model_dir {model_dir} is not a transformers model directory (no config.json)")
    check_reachable()
    if mlflow.active_run() is None:
        raise RuntimeError("register_student needs an active MLflow run (the step's experiment tracker run)")
    client = MlflowClient()
    with PromotionLock(client, name):  # compare with the real champion, not one a crashed registration moved
        transaction.repair(client, name)
    compared = _champion_scores(client, name, evaluation, allow_teacher_change, rescore)  # slow: before the lock
    info = _log_transformers_model(model_dir, name, evaluation, tags)
    mlflow.log_dict(evaluation.model_dump(mode="json"), EVALUATION_ARTIFACT)
    with PromotionLock(client, name):
        transaction.repair(client, name)  # what a crashed registration left, before anything else moves
        existed = _exists(client, name)
        aliases_before = _aliases(client, name) if existed else {}
        version = None
        try:
            version_tags = {**tags, **_identity_tags(evaluation), **_metric_tags(evaluation)}
            pending = transaction.pending_tags(aliases_before, existed)
            version = str(mlflow.register_model(info.model_uri, name, tags={**version_tags, **pending}).version)
            result = _apply_gate(client, name, version, evaluation, policy, compared)
            if stage_sync is not None:
                stage_sync("production" if result.promoted else "staging", version_tags)
            transaction.commit(client, name, version)
            return result
        except BaseException as err:
            _roll_back(client, name, version, aliases_before, existed, err)
            raise


def _identity_tags(evaluation: EvalMetrics) -> dict[str, str]:
    return {"teacher": evaluation.teacher, "teacher_sha256": evaluation.teacher_sha256,
            "test_set_sha256": evaluation.test_set_sha256, "test_examples": str(len(evaluation.scores.ids)),
            "eval_split": evaluation.split, "warnings": "; ".join(w.code for w in evaluation.warnings) or "none"}


def _metric_tags(evaluation: EvalMetrics) -> dict[str, str]:
    """`metric.<name>`: the point value (what the registry UI lists); `ci.<name>`: `0.29 [0.21, 0.36] n=60`."""
    tags = {}
    for name, estimate in evaluation.scores.estimates().items():
        tags[f"metric.{name}"] = str(float(estimate.value))
        if estimate.has_ci:
            tags[f"ci.{name}"] = estimate.text(4)
    return tags


def identity_of(version) -> Identity:
    return Identity(teacher=version.tags.get("teacher", ""), teacher_sha256=version.tags.get("teacher_sha256") or None,
                    test_set_sha256=version.tags.get("test_set_sha256") or None)


def _identity(evaluation: EvalMetrics) -> Identity:
    return Identity(teacher=evaluation.teacher, teacher_sha256=evaluation.teacher_sha256 or None,
                    test_set_sha256=evaluation.test_set_sha256 or None)


def stored_evaluation(client: MlflowClient, version) -> EvalMetrics | None:
    """The evaluation a version was registered with (its per-example scores), when it was recorded."""
    return stored_evaluation_of_run(client, version.run_id) if version.run_id else None


def stored_evaluation_of_run(client: MlflowClient, run_id: str) -> EvalMetrics | None:
    """The evaluation a registration logged in run `run_id`, when there is one."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(client.download_artifacts(run_id, EVALUATION_ARTIFACT, tmp))
            return EvalMetrics.model_validate_json(path.read_text())
    except (MlflowException, OSError, ValueError):
        return None


class _Compared(BaseModel):
    """The champion this challenger was compared with: its version, its scores, or why it could not be."""

    version: str | None = None
    evaluation: EvalMetrics | None = None
    incomparable: str | None = None
    note: str = ""


def _champion_scores(client: MlflowClient, name: str, evaluation: EvalMetrics, allow_teacher_change: bool,
                     rescore: Rescore | None) -> _Compared:
    champion = _champion(client, name) if _exists(client, name) else None
    if champion is None:
        return _Compared()
    ours, theirs = _identity(evaluation), identity_of(champion)
    stored = stored_evaluation(client, champion)
    why = incomparable(ours, theirs.model_copy(update={"test_set_sha256": ours.test_set_sha256}), allow_teacher_change)
    if why:
        return _Compared(version=str(champion.version), incomparable=why)
    if stored is not None and stored.test_set_sha256 == evaluation.test_set_sha256:
        return _Compared(version=str(champion.version), evaluation=stored)
    rescored = rescore(f"models:/{name}/{champion.version}") if rescore is not None else None
    if rescored is None:
        return _Compared(version=str(champion.version), incomparable=incomparable(ours, theirs, allow_teacher_change)
                         or f"the champion v{champion.version} has no per-example scores recorded to compare with")
    note = (f"the champion v{champion.version} was re-scored on this test set (it was scored on "
            f"{(theirs.test_set_sha256 or 'an unrecorded one')[:12]})")
    return _Compared(version=str(champion.version), evaluation=rescored, note=note)


def promote(name: str, version: str, *, reason: str, user: str | None = None, stage_sync: StageSync | None = None,
            client: MlflowClient | None = None, notify: Callable[[str], None] = log.warning,
            lock_timeout_s: float = 120.0) -> Registration:
    """Make `version` the champion by hand, recording who and why as version tags.

    Idempotent: promoting the current champion changes nothing. The old
    champion gets `previous-champion`.
    """
    if not reason.strip():
        raise ValueError("a manual promotion needs a reason (--reason TEXT)")
    check_reachable()
    client = client or MlflowClient()
    version = str(version)
    try:
        target = client.get_model_version(name, version)
    except MlflowException:
        versions = sorted((str(v.version) for v in client.search_model_versions(f"name='{name}'")), key=int)
        raise ValueError(f"{name} has no version {version}; versions: {versions or 'none'}") from None
    with PromotionLock(client, name, timeout_s=lock_timeout_s, notify=notify):
        if version in transaction.repair(client, name).removed:
            raise ValueError(f"{name} v{version} was left incomplete by a registration that did not finish and has "
                             "been removed; register it again")
        champion = _champion(client, name)
        if champion is not None and str(champion.version) == version:
            return Registration(name=name, version=version, aliases=_aliases_of(client, name, version), promoted=True,
                                reason=f"v{version} is already the champion: nothing changed",
                                model_uri=f"models:/{name}/{version}", decision="unchanged",
                                previous_champion=_aliases(client, name).get(PREVIOUS))
        before, tags_before = _aliases(client, name), dict(target.tags)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        record = {"promotion.decision": "manual", "promotion.reason": reason,
                  "promotion.by": user or getpass.getuser(), "promotion.at": stamp}
        try:
            transaction.begin_promotion(client, name, version, before, tags_before, record)
            if champion is not None:
                client.set_registered_model_alias(name, PREVIOUS, champion.version)
            client.set_registered_model_alias(name, CHAMPION, version)
            for key, value in record.items():
                client.set_model_version_tag(name, version, key, value)
            if stage_sync is not None:
                stage_sync("production", tags_before)
            transaction.end_promotion(client, name, version)
        except BaseException as err:
            _restore_tags(client, name, version, tags_before, {**record, transaction.PROMOTION_TAG: ""})
            _roll_back(client, name, None, before, True, err)
            raise
    previous = None if champion is None else str(champion.version)
    log.info("promoted %s v%s by hand (previous champion: %s): %s", name, version, previous, reason)
    return Registration(name=name, version=version, aliases=_aliases_of(client, name, version), promoted=True,
                        reason=reason, model_uri=f"models:/{name}/{version}", decision="manual",
                        previous_champion=previous)


def _restore_tags(client: MlflowClient, name: str, version: str, before: dict[str, str], written: dict) -> None:
    for key in written:
        try:
            if key in before:
                client.set_model_version_tag(name, version, key, before[key])
            else:
                client.delete_model_version_tag(name, version, key)
        except MlflowException as err:
            log.warning("could not restore tag %s of %s v%s: %s", key, name, version, err)


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _aliases_of(client: MlflowClient, name: str, version: str) -> list[str]:
    return sorted(alias for alias, v in _aliases(client, name).items() if v == version)


def version_metrics(client: MlflowClient, version) -> dict[str, float]:
    """A version's `metric.*` tags; its source run's metrics fill in what the tags lack."""
    metrics = {k.removeprefix("metric."): float(v) for k, v in version.tags.items() if k.startswith("metric.")}
    if version.run_id:
        try:
            run_metrics = client.get_run(version.run_id).data.metrics
        except MlflowException:  # source run deleted
            run_metrics = {}
        metrics = {**run_metrics, **metrics}
    return metrics


def _score(metrics: dict[str, float], metric: str) -> float:
    """The configured metric's value; errors name the metric and what was measured instead."""
    if metric not in metrics:
        raise ValueError(f"registry.metric '{metric}' was not measured; available: {sorted(metrics)}")
    score = float(metrics[metric])
    if not math.isfinite(score):
        raise ValueError(f"registry.metric '{metric}' is {score}: a version cannot be ranked by a non-finite score")
    return score


def _log_transformers_model(model_dir: Path, name: str, evaluation: EvalMetrics, tags: dict[str, str]):
    """Log loaded components as a servable chat model, with the model card written here.

    `llm/v1/chat` (when the tokenizer has a chat template; `llm/v1/completions` otherwise): `mlflow models serve`
    then answers OpenAI-style `{"messages": [...]}` requests through the tokenizer's chat template, where plain
    `text-generation` would take raw strings and echo the prompt. Components, not the directory path: MLflow
    3.17's path-based logging fails on transformers 5 task metadata ('str' object has no attribute '__name__').
    Without `model_card`, MLflow calls `ModelCard.load(<path>)` and warns that no card or license could be found.
    """
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    components = {"model": AutoModelForCausalLM.from_pretrained(model_dir),
                  "tokenizer": AutoTokenizer.from_pretrained(model_dir)}
    chat = bool(getattr(components["tokenizer"], "chat_template", None))
    requirements = [f"{p}=={importlib.metadata.version(p).split('+')[0]}" for p in REQUIRED_PACKAGES]
    facts = model_card.facts_from_tags({**tags, **_identity_tags(evaluation)}, evaluation, name=name,
                                       chat_template=chat)
    with warnings.catch_warnings():
        # Emitted once, when log_model first imports mlflow.pyfunc (MLflow's own response types), not our model.
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType", category=UserWarning)
        return mlflow.transformers.log_model(transformers_model=components, name=ARTIFACT_NAME,
                                             task=CHAT_TASK if chat else COMPLETIONS_TASK,
                                             pip_requirements=requirements,
                                             model_card=ModelCard(model_card.render(facts)))


def _apply_gate(client: MlflowClient, name: str, version: str, evaluation: EvalMetrics, policy: Policy,
                compared: _Compared) -> Registration:
    champion = _champion(client, name)
    if champion is not None and str(champion.version) != compared.version:  # it moved while we compared
        stored = stored_evaluation(client, champion)
        same = stored is not None and stored.test_set_sha256 == evaluation.test_set_sha256
        compared = _Compared(version=str(champion.version), evaluation=stored if same else None,
                             incomparable=None if same else f"the champion changed to v{champion.version} during "
                             "this registration and has no scores on this test set")
    if champion is not None and compared.incomparable:
        decision = Decision("hold", (compared.incomparable,))
    else:
        decision = gate(evaluation.scores, None if champion is None else compared.evaluation.scores, policy,
                        evaluation.warnings)
        if compared.note:
            decision = Decision(decision.action, (compared.note, *decision.reasons))
    client.set_model_version_tag(name, version, "promotion.decision", decision.action)
    client.set_model_version_tag(name, version, "promotion.reason", decision.reason[:5000])
    client.set_registered_model_alias(name, CHALLENGER, version)
    aliases = [CHALLENGER]
    promoted = decision.action == "promote"
    previous = None
    if promoted:
        if champion is not None:
            previous = str(champion.version)
            client.set_registered_model_alias(name, PREVIOUS, previous)
        client.set_registered_model_alias(name, CHAMPION, version)
        aliases.append(CHAMPION)
    log.info("registered %s v%s (%s), %s: %s", name, version, ", ".join(aliases), decision.action, decision.reason)
    return Registration(name=name, version=version, aliases=aliases, promoted=promoted, reason=decision.reason,
                        model_uri=f"models:/{name}/{version}", decision=decision.action, previous_champion=previous)


def _roll_back(client: MlflowClient, name: str, version, aliases_before: dict[str, str], existed: bool,
               err: BaseException) -> None:
    """Undo a failed registration (`transaction.undo`); what could not be undone is attached to the original error
    as a note rather than replacing it."""
    failures = transaction.undo(client, name, version, aliases_before, existed)
    if failures:
        err.add_note(f"registry rollback of {name} incomplete: " + "; ".join(failures))
