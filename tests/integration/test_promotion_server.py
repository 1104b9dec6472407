"""Promotion against a real MLflow tracking server on PostgreSQL, as on the cluster (the `mlflow_server` fixture).

Covers what only a server shows: two promotions racing through HTTP are
serialised by the promotion lock (exactly one champion, and each
`previous-champion` is the version that was really replaced), manual
promotion records who/why and is idempotent, and an unreachable server fails
fast with a clear message while the registry (read from its database
directly) is left unchanged.
"""

from __future__ import annotations

import threading

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from fastdistill.evaluation.scores import EvalMetrics, Scores
from fastdistill.registry import mlflow_registry as registry
from fastdistill.registry.promotion import Policy

NAME = "race-student"


def _versions(client: MlflowClient, n: int) -> list[str]:
    client.create_registered_model(NAME)
    return [str(client.create_model_version(NAME, source=f"s3://fastdistill-test/models/v{i}").version) for i in range(n)]


def _aliases(client: MlflowClient) -> dict[str, str]:
    return {a: str(v) for a, v in client.get_registered_model(NAME).aliases.items()}


def test_manual_promotion_records_who_and_why_and_is_idempotent(mlflow_server):
    client = MlflowClient(mlflow_server.uri)
    mlflow.set_tracking_uri(mlflow_server.uri)
    try:
        v1, v2, v3 = _versions(client, 3)
        synced = []
        first = registry.promote(NAME, v1, reason="first champion", user="alice", client=client,
                                 stage_sync=lambda stage, tags: synced.append((stage, tags.get("zenml_model"))))
        assert (first.decision, first.previous_champion, first.aliases) == ("manual", None, ["champion"])
        second = registry.promote(NAME, v2, reason="better on the new eval set", user="bob", client=client)
        assert second.previous_champion == v1
        assert _aliases(client) == {"champion": v2, "previous-champion": v1}
        tags = client.get_model_version(NAME, v2).tags
        assert (tags["promotion.by"], tags["promotion.reason"], tags["promotion.decision"]) == (
            "bob", "better on the new eval set", "manual")
        again = registry.promote(NAME, v2, reason="again", user="carol", client=client)
        assert again.decision == "unchanged" and "already the champion" in again.reason
        assert _aliases(client) == {"champion": v2, "previous-champion": v1}  # nothing moved
        assert client.get_model_version(NAME, v2).tags["promotion.by"] == "bob"  # nor was it re-stamped
        assert synced == [("production", None)]
        with pytest.raises(ValueError, match=f"{NAME} has no version 99; versions: \\['1', '2', '3'\\]"):
            registry.promote(NAME, "99", reason="typo", client=client)
        assert v3 == "3"
    finally:
        mlflow.set_tracking_uri(None)
        client.delete_registered_model(NAME)


def test_two_racing_promotions_leave_one_champion_and_a_consistent_lineage(mlflow_server):
    client = MlflowClient(mlflow_server.uri)
    mlflow.set_tracking_uri(mlflow_server.uri)
    try:
        v1, v2, v3 = _versions(client, 3)
        for round_ in range(3):
            registry.promote(NAME, v1, reason="reset", client=client)
            barrier, results, errors = threading.Barrier(2), {}, []

            def contender(version: str) -> None:
                own = MlflowClient(mlflow_server.uri)  # one HTTP client per contender, as two processes would have
                barrier.wait()
                try:
                    results[version] = registry.promote(NAME, version, reason=f"race {round_}", client=own)
                except Exception as err:  # surfaced below with the round number
                    errors.append(err)

            threads = [threading.Thread(target=contender, args=(v,)) for v in (v2, v3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert not errors, f"round {round_}: {errors}"
            aliases = _aliases(client)
            winner, loser = aliases["champion"], ({v2, v3} - {aliases["champion"]}).pop()
            # serialised: the loser replaced v1, the winner replaced the loser
            assert results[loser].previous_champion == v1, f"round {round_}: {results}"
            assert results[winner].previous_champion == loser, f"round {round_}: {results}"
            assert aliases["previous-champion"] == loser
            champions = [v for v in (v1, v2, v3) if "champion" in client.get_model_version(NAME, v).aliases]
            assert champions == [winner]
        assert [m.name for m in client.search_registered_models()] == [NAME]  # the lock is gone
    finally:
        mlflow.set_tracking_uri(None)
        client.delete_registered_model(NAME)


def _evaluation(value: float) -> EvalMetrics:
    """Per-example scores on four test prompts (the signature register_student takes since the CI gate)."""
    scores = Scores(split="test", ids=["a", "b", "c", "d"], per_example={"rougeL_vs_teacher": [value] * 4})
    return EvalMetrics(scores=scores, teacher="tiny:teacher", teacher_sha256="sha", test_set_sha256="set")


def test_unreachable_server_fails_fast_and_leaves_the_registry_unchanged(mlflow_server, tmp_path):
    client = MlflowClient(mlflow_server.uri)
    v1, v2 = _versions(client, 2)
    registry.promote(NAME, v1, reason="before the outage", client=client)
    store = MlflowClient(mlflow_server.backend_uri)  # the registry's PostgreSQL database itself, readable without the server
    before = (_aliases(store), sorted(str(v.version) for v in store.search_model_versions(f"name='{NAME}'")))
    mlflow_server.stop()
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    mlflow.set_tracking_uri(mlflow_server.uri)
    try:
        with pytest.raises(registry.RegistryUnreachable, match=f"MLflow at {mlflow_server.uri} is unreachable"):
            registry.register_student(model_dir, name=NAME, evaluation=_evaluation(0.9), tags={},
                                      policy=Policy("rougeL_vs_teacher", True))
        with pytest.raises(registry.RegistryUnreachable, match="Nothing was registered"):
            registry.promote(NAME, v2, reason="during the outage")
    finally:
        mlflow.set_tracking_uri(None)
    after = (_aliases(store), sorted(str(v.version) for v in store.search_model_versions(f"name='{NAME}'")))
    assert after == before == ({"champion": v1}, [v1, v2])
