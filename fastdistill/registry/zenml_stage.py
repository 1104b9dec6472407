"""Keeping ZenML's Model Control Plane stage in step with the MLflow aliases.

A registered version carries the ZenML model version it came from as tags
(`zenml_model`, `zenml_model_version_id`). When the champion moves, that
ZenML model version goes to stage `production`, and ZenML archives the one
that was there (`force=True`); a challenger that is not promoted goes to
`staging`. ZenML is imported lazily: the registry logic stays usable (and
testable) without it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
MODEL_TAG, VERSION_TAG = "zenml_model", "zenml_model_version_id"


def zenml_tags(model_version) -> dict[str, str]:
    """Tags linking an MLflow version to a ZenML model version (empty when the run has no ZenML model)."""
    if model_version is None:
        return {}
    return {MODEL_TAG: model_version.model.name, VERSION_TAG: str(model_version.id)}


def sync_zenml_stage(stage: str, version_tags: dict[str, str]) -> None:
    """Move the linked ZenML model version to `stage`; a version without the tags is left alone (and said so)."""
    model, version_id = version_tags.get(MODEL_TAG), version_tags.get(VERSION_TAG)
    if not model or not version_id:
        log.info("no ZenML model version linked to this registry version: ZenML stage not changed")
        return
    from uuid import UUID

    from zenml.client import Client

    # A UUID object, not its string: ZenML 0.98's SQL store treats a str as a version name or number.
    Client().update_model_version(model_name_or_id=model, version_name_or_id=UUID(version_id), stage=stage, force=True)
    log.info("ZenML model %s version %s -> stage %s", model, version_id, stage)
