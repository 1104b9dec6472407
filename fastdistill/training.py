"""Offline KD training on the teacher's top-k store, built on TRL's SFTTrainer.

TRL trains each method with the teacher online; it has no trainer that reads
a persisted top-k store. `TopKDistillationTrainer` keeps SFTTrainer's loop,
logging and checkpointing, and replaces only `compute_loss`:
    loss = ce_weight * CE(teacher tokens) + (1 - ce_weight) * KD(top-k soft targets)
where KD is the configured objective from `fastdistill.losses.OBJECTIVE_LOSSES`.
The CE and KD parts are logged separately so a vanishing KD term is visible.
The loss is computed by `fastdistill.fused_loss` from the decoder's final hidden
states and the lm_head, a chunk of tokens at a time, so the student's full
[batch, seq, vocab] logits are never built.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase, TrainerCallback
from trl import SFTConfig, SFTTrainer

from fastdistill.config import TrainingConfig
from fastdistill.fused_loss import check_head_reproduces_logits, fused_linear_kd_loss, lm_head_of
from fastdistill.losses import OBJECTIVE_LOSSES
from fastdistill.models import (
    build_student_by_layer_selection,
    check_training_vocab,
    check_vocab_compatible,
    resolve_model,
)
from fastdistill.teacher.hf import load_tokenizer
from fastdistill.topk import TeacherOutputs

log = logging.getLogger(__name__)

IGNORE = -100


def build_examples(outputs: TeacherOutputs, max_length: int) -> Dataset:
    """One training example per teacher response: prompt + response, loss on the response only."""
    rows = []
    for r in outputs.frame.itertuples():
        budget = max_length - len(r.prompt_ids)
        if budget < 1 or not len(r.response_ids):
            continue  # a prompt longer than max_length cannot teach anything
        resp = list(r.response_ids)[:budget]
        rows.append({
            "input_ids": list(r.prompt_ids) + resp,
            "labels": [IGNORE] * len(r.prompt_ids) + resp,
            "teacher_topk_ids": r.topk_ids[: len(resp)].tolist(),
            "teacher_topk_logprobs": r.topk_logprobs[: len(resp)].tolist(),
        })
    if not rows:
        raise ValueError(f"no training example fits training.max_length={max_length}; raise it")
    return Dataset.from_list(rows)


@dataclass
class TopKCollator:
    """Right-pads a batch; the teacher's top-k rows sit at the positions of the tokens they predict."""

    pad_id: int
    top_k: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.full((len(features), width), self.pad_id),
            "attention_mask": torch.zeros((len(features), width), dtype=torch.long),
            "labels": torch.full((len(features), width), IGNORE),
            "teacher_topk_ids": torch.zeros((len(features), width, self.top_k), dtype=torch.long),
            "teacher_topk_logprobs": torch.zeros((len(features), width, self.top_k)),
        }
        for row, f in enumerate(features):
            n, resp = len(f["input_ids"]), len(f["teacher_topk_ids"])
            batch["input_ids"][row, :n] = torch.tensor(f["input_ids"])
            batch["attention_mask"][row, :n] = 1
            batch["labels"][row, :n] = torch.tensor(f["labels"])
            batch["teacher_topk_ids"][row, n - resp : n] = torch.tensor(f["teacher_topk_ids"])
            batch["teacher_topk_logprobs"][row, n - resp : n] = torch.tensor(f["teacher_topk_logprobs"])
        return batch


def select_response_tokens(logits, labels, topk_ids, topk_logprobs):
    """Shift so position t predicts token t+1, then keep only response tokens (of logits or hidden states)."""
    targets = labels[:, 1:]
    mask = targets != IGNORE
    return logits[:, :-1][mask], targets[mask], topk_ids[:, 1:][mask], topk_logprobs[:, 1:][mask]


class TopKDistillationTrainer(SFTTrainer):
    """SFTTrainer whose loss mixes CE with a KD objective on a persisted top-k store."""

    def __init__(self, *args, ce_weight: float, temperature: float, objective: str = "fkl",
                 beta: float = 0.5, alpha: float = 0.1, vocab_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if objective not in OBJECTIVE_LOSSES:
            raise ValueError(f"training.objective '{objective}' is not one of {sorted(OBJECTIVE_LOSSES)}")
        self.ce_weight, self.temperature, self.objective = ce_weight, temperature, objective
        self.kd_knobs = {"temperature": temperature, "beta": beta, "alpha": alpha}
        self.vocab_size = vocab_size  # the tokenizer's size: lm_head rows beyond it are padding
        self._head_checked = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        # Through the (possibly wrapped) model so DDP/accelerate hooks run; the model itself projects only the
        # last position ([B, 1, V]), used once to check that its logits are the plain lm_head projection.
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False,
                        output_hidden_states=True, logits_to_keep=1)
        student = self.accelerator.unwrap_model(model)
        hidden, head = outputs.hidden_states[-1], lm_head_of(student)
        states, targets, ids, lps = select_response_tokens(
            hidden, inputs["labels"], inputs["teacher_topk_ids"], inputs["teacher_topk_logprobs"]
        )
        with self.accelerator.autocast():  # the head runs in the same precision as inside the model's forward
            if not self._head_checked:
                check_head_reproduces_logits(outputs.logits, hidden[:, -1:], head, type(student).__name__)
                self._head_checked = True
            parts = fused_linear_kd_loss(states, head.weight, targets, ids, lps, bias=head.bias,
                                         objective=self.objective, ce_weight=self.ce_weight,
                                         vocab_size=self.vocab_size, **self.kd_knobs)
        self._metrics[mode]["ce_loss"].append(parts.ce.item())
        self._metrics[mode]["kd_loss"].append(parts.kd.item())
        return (parts.total, outputs) if return_outputs else parts.total


@dataclass
class TrainResult:
    model_dir: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    num_examples: int = 0
    warnings: list[str] = field(default_factory=list)


class _History(TrainerCallback):
    def __init__(self):
        self.rows: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.rows.append({"step": state.global_step, **{k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}})


def train_student(
    student_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    outputs: TeacherOutputs,
    config: TrainingConfig,
    out_dir: Path,
) -> TrainResult:
    """Train the student at `student_dir` on the train split of `outputs`; save it to `out_dir`."""
    dataset = build_examples(outputs.split("train"), config.max_length)
    model = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    vocab_size = check_training_vocab(tokenizer, lm_head_of(model).weight.shape[0], outputs.meta.tokenizer_sha256,
                                      outputs.meta.vocab_size, _max_topk_id(outputs))
    history = _History()
    with tempfile.TemporaryDirectory(prefix="fastdistill-train-") as scratch:
        trainer = TopKDistillationTrainer(
            model=model,
            args=_sft_config(config, scratch),
            train_dataset=dataset,
            processing_class=tokenizer,
            data_collator=TopKCollator(tokenizer.pad_token_id, outputs.meta.top_k),
            callbacks=[history],
            ce_weight=config.ce_weight,
            temperature=config.temperature,
            objective=config.objective,
            beta=config.beta,
            alpha=config.alpha,
            vocab_size=vocab_size,
        )
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return TrainResult(out_dir, history.rows, seconds, len(dataset), kd_scale_warnings(history.rows))


def _max_topk_id(outputs: TeacherOutputs) -> int:
    return max((int(ids.max()) for ids in outputs.frame["topk_ids"] if len(ids)), default=-1)


def _sft_config(config: TrainingConfig, output_dir: str) -> SFTConfig:
    return SFTConfig(
        output_dir=output_dir,
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def kd_scale_warnings(history: list[dict]) -> list[str]:
    """A KD term orders of magnitude below CE teaches nothing: say so (a known silent failure)."""
    pairs = [(h["ce_loss"], h["kd_loss"]) for h in history if "ce_loss" in h and "kd_loss" in h]
    if not pairs:
        return []
    ce = sum(p[0] for p in pairs) / len(pairs)
    kd = sum(p[1] for p in pairs) / len(pairs)
    if ce > 0 and kd < ce / 100:
        message = f"KD loss ({kd:.2e}) is over 100x below CE loss ({ce:.2e}): the soft targets barely shape training"
        log.warning(message)
        return [message]
    return []


def prepare_student(teacher_config, student_config, out_dir: Path) -> tuple[Path, PreTrainedTokenizerBase, dict]:
    """The student's starting point: layers selected from the teacher, or a given model with the same vocabulary."""
    teacher_dir = resolve_model(teacher_config.model)
    if student_config.num_layers is not None:
        student_dir = build_student_by_layer_selection(
            teacher_dir, student_config.num_layers, out_dir, student_config.layer_selection
        )
        info = {"init": "layer_selection", "num_layers": student_config.num_layers,
                "layer_selection": student_config.layer_selection}
    else:
        student_dir = resolve_model(student_config.model)
        check_vocab_compatible(teacher_dir, student_dir)
        info = {"init": "given", "model": student_config.model}
    return student_dir, load_tokenizer(student_dir), info
