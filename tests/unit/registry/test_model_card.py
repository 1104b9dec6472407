"""The model card from a version's tags alone (a version whose source run, and so its stored evaluation, is gone):
metrics with the CIs the `ci.<name>` tags carry, Born-Again lineage, and a front matter the Hub's parser reads."""

from __future__ import annotations

from huggingface_hub import ModelCard

from fastdistill.registry.model_card import facts_from_tags, render

GENERATION_2 = {
    "teacher": "models:/fastdistill-student-c1/1", "teacher_sha256": "a" * 64, "objective": "sft",
    "data_sha256": "b" * 64, "test_set_sha256": "c" * 64, "config_sha256": "d" * 64, "test_examples": "60",
    "eval_split": "test", "warnings": "self_judge; uninformative_judge",
    "metric.rougeL_vs_teacher": "0.41", "ci.rougeL_vs_teacher": "0.4100 [0.3500, 0.4700] n=60",
    "metric.teacher_forced_kl": "1.25", "ci.teacher_forced_kl": "1.2500 [1.1000, 1.4000] n=60",
    "metric.student_tokens_per_s": "88.0", "metric.original_teacher.rougeL_vs_teacher": "0.5",
    "chain_id": "c1", "generation": "2", "teacher_version": "1", "parent_run_id": "run-of-gen-1",
    "chain.improved": "false", "chain.reason": "within noise of its teacher",
    "promotion.decision": "hold", "promotion.reason": "tie within noise",
    "zenml_run_name": "born_again-2026_12_01",
}


def test_metrics_come_with_the_intervals_their_tags_carry():
    facts = facts_from_tags(GENERATION_2, name="fastdistill-student-c1", version="2")
    by_name = {m.name: m for m in facts.metrics}
    assert set(by_name) == {"rougeL_vs_teacher", "teacher_forced_kl", "student_tokens_per_s"}  # not original_teacher.*
    assert (by_name["rougeL_vs_teacher"].ci_low, by_name["rougeL_vs_teacher"].ci_high, by_name["rougeL_vs_teacher"].n) \
        == (0.35, 0.47, 60)
    assert by_name["student_tokens_per_s"].ci_low is None and by_name["student_tokens_per_s"].n is None
    assert facts.warnings == ["self_judge", "uninformative_judge"]


def test_a_born_again_generation_states_its_lineage_and_has_no_hub_base_model():
    card = ModelCard(render(facts_from_tags(GENERATION_2, name="fastdistill-student-c1", version="2",
                                            aliases=["challenger"], chat_template=False)))
    assert card.data.base_model is None  # its teacher is a registry version, not a hub model
    ours = card.data.to_dict()["fastdistill"]
    assert ours["teacher"] == "models:/fastdistill-student-c1/1"
    assert (ours["lineage.generation"], ours["lineage.chain_id"], ours["lineage.teacher_version"]) == ("2", "c1", "1")
    body = " ".join(card.text.split())
    assert ("Born-Again generation 2 of chain `c1`: its teacher was `models:/fastdistill-student-c1/1` (registry "
            "version 1), itself made by the ZenML run `run-of-gen-1`.") in body
    assert "It did not beat its teacher: within noise of its teacher." in body
    assert "| quality | rougeL_vs_teacher | 0.41 | [0.35, 0.47] | 60 |" in body
    assert "promotion decision: hold (tie within noise)" in body
    assert "- self_judge" in body and "no chat template" in body
    assert "indicative only" not in body  # 60 test examples


def test_a_hub_teacher_is_the_base_model_and_missing_facts_are_unrecorded_not_invented():
    card = ModelCard(render(facts_from_tags({"teacher": "HuggingFaceTB/SmolLM2-1.7B-Instruct"})))
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert card.data.eval_results is None
    body = " ".join(card.text.split())
    assert "| training data (the prompts file the run read) | `unrecorded` |" in body
    assert "No metrics were recorded with this model." in body
    assert "First generation: distilled directly from `HuggingFaceTB/SmolLM2-1.7B-Instruct`." in body
