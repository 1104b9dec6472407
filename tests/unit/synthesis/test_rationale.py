"""Rationale mode: the teacher's output split into rationale and answer, and stored."""

import numpy as np
import pandas as pd

from fastdistill.inference.topk_store import TeacherMeta, TeacherOutputs
from fastdistill.synthesis.rationales import split_rationale, with_instruction


def test_split_rationale_parses_the_shape_and_refuses_anything_else():
    text = "Rationale: 3 pens cost 6 and the notebook 5, so 6 + 5.\nAnswer: 11"
    assert split_rationale(text) == ("3 pens cost 6 and the notebook 5, so 6 + 5.", "11")
    assert split_rationale("rationale: two and two\nFinal answer: four") == ("two and two", "four")
    assert split_rationale("The answer is 11.") == (None, None)
    assert split_rationale("Rationale: thinking...\nAnswer:   ") == (None, None)
    assert with_instruction("Q?").startswith("Q?\n\nThink step by step.")


def test_rationale_columns_survive_the_store(tmp_path):
    frame = pd.DataFrame([{
        "id": "a", "split": "train", "category": "math", "prompt": "p", "reference": None, "prompt_ids": [1],
        "response_ids": [5, 6], "response_text": "Rationale: r\nAnswer: 4", "topk_ids": np.array([[5, 7], [6, 8]]),
        "topk_logprobs": np.log(np.array([[0.6, 0.3], [0.9, 0.05]], np.float32)), "rationale": "r", "answer": "4",
    }, {
        "id": "b", "split": "train", "category": "math", "prompt": "q", "reference": None, "prompt_ids": [1],
        "response_ids": [9], "response_text": "no shape", "topk_ids": np.array([[9, 2]]),
        "topk_logprobs": np.log(np.array([[0.5, 0.4]], np.float32)), "rationale": None, "answer": None,
    }])
    TeacherOutputs(frame, TeacherMeta("tiny:t", 2, 0.0, 8, "sha", vocab_size=100)).save(tmp_path)
    loaded = TeacherOutputs.load(tmp_path).frame
    assert loaded["rationale"].tolist() == ["r", None] and loaded["answer"].tolist() == ["4", None]


def test_label_in_rationale_mode_asks_for_the_shape_and_adds_the_columns(tiny_teacher_dir, model_cache_dir):
    from fastdistill.config import TeacherConfig
    from fastdistill.inference.hf import HFBackend
    from fastdistill.inference.labelling import label

    backend = HFBackend(tiny_teacher_dir)
    rows = pd.DataFrame({"id": ["a"], "split": ["train"], "category": ["math"], "prompt": ["What is 2+2?"], "reference": [None]})
    outputs = label(backend, rows, TeacherConfig(model="tiny:teacher", rationales=True, max_new_tokens=4, top_k=2))
    assert "Think step by step" in backend.tokenizer.decode(outputs.frame["prompt_ids"][0])
    # a random tiny teacher never produces the shape: both parts are missing, not guessed
    assert outputs.frame[["rationale", "answer"]].iloc[0].tolist() == [None, None]


def test_the_answer_marker_is_a_label_not_any_word_starting_with_answer():
    # the bug: "answers" was taken as the marker, giving the answer "s must be whole numbers"
    bug = "Rationale: 7 / 2 is 3.5, rounded down since answers must be whole numbers.\nAnswer: 3"
    assert split_rationale(bug) == ("7 / 2 is 3.5, rounded down since answers must be whole numbers.", "3")
    assert split_rationale("We round 3.5 down to 3, since answers must be whole numbers.") == (None, None)
    # the usual shapes still parse: a line or a sentence starting with the label, or "the answer is"
    assert split_rationale("Add the two numbers together. Answer: 5") == ("Add the two numbers together.", "5")
    assert split_rationale("Add 2 and 2 to get four. So the answer is 4.") == ("Add 2 and 2 to get four. So", "4")
    assert split_rationale("Count them all carefully.\n**Final Answer:** 7") == ("Count them all carefully.", "7")
    assert split_rationale("Count them all carefully.\n#### 7") == ("Count them all carefully.", "7")


def _dirs(path):
    from fastdistill.infra.durable import DurableDir
    from fastdistill.inference.labelling import ShardDirs

    return ShardDirs(DurableDir(str(path)))


def test_the_majority_rationale_survives_labelling_and_is_what_step_by_step_trains_on(tiny_teacher_dir, tmp_path):
    from fastdistill.config import TeacherConfig
    from fastdistill.inference.hf import HFBackend
    from fastdistill.inference.labelling import label_sharded
    from fastdistill.training.trainers import RATIONALE_TASK, build_step_by_step_examples

    backend = HFBackend(tiny_teacher_dir)
    # rows as synthesis' self-consistency vote leaves them: "a" voted 2 of 3, "b" not a rationale category
    rows = pd.DataFrame({"id": ["a", "b"], "split": ["train", "train"], "category": ["math", "chat"],
                         "prompt": ["What is 7 / 2 rounded down?", "Say hi."], "reference": [None, None],
                         "source": ["seed", "seed"], "needs_rationale": [True, False],
                         "rationale": ["7 / 2 is 3.5 and rounding down gives 3.", None], "answer": ["3", None],
                         "agreement": [2 / 3, float("nan")]})
    for rationales in (False, True):  # with or without the teacher's own rationale mode
        config = TeacherConfig(model="tiny:teacher", rationales=rationales, max_new_tokens=4, top_k=2, shard_rows=1)
        frame = label_sharded(backend, rows, config, _dirs(tmp_path / f"work-{rationales}")).frame
        assert frame.loc[0, ["rationale", "answer"]].tolist() == ["7 / 2 is 3.5 and rounding down gives 3.", "3"]
        assert abs(frame.loc[0, "agreement"] - 2 / 3) < 1e-9
        assert pd.isna(frame.loc[1, "agreement"]) and frame.loc[1, "rationale"] is None
    outputs = label_sharded(backend, rows, config, _dirs(tmp_path / "work"))
    examples = build_step_by_step_examples(outputs, backend.tokenizer, max_length=256)
    targets = {(row["task"], backend.tokenizer.decode([t for t in row["labels"] if t != -100], skip_special_tokens=True))
               for row in examples}
    assert targets == {(0, "3"), (1, "7 / 2 is 3.5 and rounding down gives 3.")}  # row "b" has nothing to learn
    assert RATIONALE_TASK.strip() in backend.tokenizer.decode(next(r for r in examples if r["task"] == 1)["input_ids"])
