"""Registration as a transaction: a version exists with its decision and aliases, or not at all.

A version is created with the tag `fastdistill.registration: incomplete`, and
with the aliases as they were before it (JSON), in the same request that
creates it; the tags are removed only once the gate's decision and the
aliases are in place (`commit`). An error in between is undone at once
(`undo`). A crash in between (SIGKILL, a lost node) cannot undo anything, so
it leaves at most a version marked incomplete: every registration and every
manual promotion first removes such versions and puts the aliases back
(`repair`), under the promotion lock, as does `run.py registry repair`.
Under the lock no other registration is in progress, so a version still
marked incomplete there was abandoned.

A manual promotion works the same way: before it moves an alias it records,
on the version, the aliases and tags it is about to change
(`fastdistill.promotion_pending`), and removes the record when done; a
repair puts back what an interrupted promotion had changed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

STATE_TAG, INCOMPLETE = "fastdistill.registration", "incomplete"
ALIASES_TAG = "fastdistill.aliases_before"
CREATED_TAG = "fastdistill.model_created"  # "true": the registered model was created for this version
PROMOTION_TAG = "fastdistill.promotion_pending"  # on a version being promoted by hand: what to put back

log = logging.getLogger(__name__)


def exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def pending_tags(aliases_before: dict[str, str], existed: bool) -> dict[str, str]:
    """The tags a version is created with: what a repair needs to remove it and restore the aliases."""
    return {STATE_TAG: INCOMPLETE, ALIASES_TAG: json.dumps(aliases_before, sort_keys=True),
            CREATED_TAG: "false" if existed else "true"}


def commit(client: MlflowClient, name: str, version: str) -> None:
    """The version is complete: its decision and aliases are in place."""
    for key in (STATE_TAG, ALIASES_TAG, CREATED_TAG):
        client.delete_model_version_tag(name, version, key)


def undo(client: MlflowClient, name: str, version: str | None, aliases_before: dict[str, str],
         existed: bool) -> list[str]:
    """Delete `version`, put the aliases back, drop a registered model created for it; what could not be undone.

    Every step is attempted even when one fails.
    """
    failures: list[str] = []

    def attempt(what: str, action) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 (keep undoing whatever failed; the caller reports what is left)
            failures.append(f"{what}: {type(err).__name__}: {err}")

    if version is not None:
        attempt(f"delete version {version}", lambda: client.delete_model_version(name, str(version)))
    if not existed:
        if exists(client, name) and not client.search_model_versions(f"name='{name}'"):
            attempt(f"delete registered model {name}", lambda: client.delete_registered_model(name))
        return failures
    current: dict[str, str] = {}
    attempt("read aliases", lambda: current.update(aliases(client, name)))
    for alias, old in aliases_before.items():
        if current.get(alias) != old:
            attempt(f"restore alias {alias} -> v{old}", lambda a=alias, v=old: client.set_registered_model_alias(name, a, v))
    for alias in current.keys() - aliases_before.keys():
        attempt(f"remove alias {alias}", lambda a=alias: client.delete_registered_model_alias(name, a))
    return failures


def incomplete_versions(client: MlflowClient, name: str) -> list:
    if not exists(client, name):
        return []
    return [v for v in client.search_model_versions(f"name='{name}'") if v.tags.get(STATE_TAG) == INCOMPLETE]


@dataclass
class Repaired:
    """What a repair undid: versions crashed registrations left (deleted), interrupted manual promotions."""

    removed: list[str] = field(default_factory=list)
    unpromoted: list[str] = field(default_factory=list)


def repair(client: MlflowClient, name: str) -> Repaired:
    """Remove the versions crashed registrations left and undo interrupted manual promotions, aliases restored.

    Call it under the promotion lock only: a registration in progress looks just like an abandoned one.
    """
    repaired = Repaired()
    for version in sorted(incomplete_versions(client, name), key=lambda v: -int(v.version)):  # newest first
        before = json.loads(version.tags.get(ALIASES_TAG) or "{}")
        _raise_if(undo(client, name, str(version.version), before, version.tags.get(CREATED_TAG) != "true"),
                  name, version)
        log.warning("removed %s v%s, left incomplete by a registration that did not finish; aliases restored to %s",
                    name, version.version, before)
        repaired.removed.append(str(version.version))
    for version in _pending_promotions(client, name):
        _undo_promotion(client, name, version)
        repaired.unpromoted.append(str(version.version))
    return repaired


def _raise_if(failures: list[str], name: str, version) -> None:
    if failures:
        raise RuntimeError(f"could not repair {name} v{version.version}: " + "; ".join(failures))


def begin_promotion(client: MlflowClient, name: str, version: str, aliases_before: dict[str, str],
                    tags_before: dict[str, str], keys) -> None:
    """Record on the version what a manual promotion is about to change, so a crash can be undone."""
    record = {"aliases": aliases_before, "tags": {key: tags_before.get(key) for key in keys}}
    client.set_model_version_tag(name, version, PROMOTION_TAG, json.dumps(record, sort_keys=True))


def end_promotion(client: MlflowClient, name: str, version: str) -> None:
    client.delete_model_version_tag(name, version, PROMOTION_TAG)


def _pending_promotions(client: MlflowClient, name: str) -> list:
    if not exists(client, name):
        return []
    return [v for v in client.search_model_versions(f"name='{name}'") if PROMOTION_TAG in v.tags]


def _undo_promotion(client: MlflowClient, name: str, version) -> None:
    record = json.loads(version.tags[PROMOTION_TAG])
    _raise_if(undo(client, name, None, record["aliases"], True), name, version)
    for key, value in record["tags"].items():
        if value is None:
            client.delete_model_version_tag(name, str(version.version), key)
        else:
            client.set_model_version_tag(name, str(version.version), key, value)
    end_promotion(client, name, str(version.version))
    log.warning("undid the interrupted manual promotion of %s v%s; aliases restored to %s", name, version.version,
                record["aliases"])
