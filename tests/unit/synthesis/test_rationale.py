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
