"""Student training for every objective, built on TRL.

Each objective's record (`fastdistill.training.objectives`) says which
trainer it gets:
- topk_kd (fkl, rkl, jsd, skl, srkl, ...): TRL trains each method with the
  teacher online and has no trainer that reads a persisted top-k store.
  `TopKDistillationTrainer` keeps SFTTrainer's loop, logging and
  checkpointing, and replaces only `compute_loss`:
      loss = ce_weight * CE(teacher tokens) + (1 - ce_weight) * KD(top-k soft targets)
  where KD is the objective's loss, given the knobs its record lists. The CE
  and KD parts are logged separately so a vanishing KD term is visible. The
  loss is computed by `fastdistill.training.fused_loss` from the decoder's final hidden
  states and the lm_head, a chunk of tokens at a time, so the student's full
  [batch, seq, vocab] logits are never built.
- cross_entropy: sft (sequence-level KD) and step_by_step (Distilling
  Step-by-Step): cross-entropy on the teacher's text, per task (`MultiTaskCETrainer`).
- on_policy: gkd, TRL's GKDTrainer with the teacher loaded in the trial;
  `OnPolicyDistillationTrainer` adds the CE mix and separate logging.
Checkpoints can be mirrored to the artifact store so a killed trial resumes.
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
from fastdistill.data.splits import TRAIN
from fastdistill.inference.chat import encode_chat_prompt, load_tokenizer
from fastdistill.inference.topk_store import TeacherOutputs
from fastdistill.models import (
    build_student_by_layer_selection,
    check_training_vocab,
    check_vocab_compatible,
    resolve_model,
)
from fastdistill.training.checkpoints import CheckpointMirror
from fastdistill.training.fused_loss import (
    check_head_reproduces_logits,
    fused_linear_kd_loss,
    lm_head_of,
)
from fastdistill.training.losses import token_cross_entropy
from fastdistill.training.objectives import Objective

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
        batch = TaskCollator(self.pad_id)(features)
        width = batch["input_ids"].shape[1]
        batch["teacher_topk_ids"] = torch.zeros((len(features), width, self.top_k), dtype=torch.long)
        batch["teacher_topk_logprobs"] = torch.zeros((len(features), width, self.top_k))
        for row, f in enumerate(features):
            n, resp = len(f["input_ids"]), len(f["teacher_topk_ids"])
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

    def __init__(self, *args, objective: Objective, ce_weight: float, kd_knobs: dict[str, float],
                 vocab_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if objective.trainer != "topk_kd":
            raise ValueError(f"training.objective '{objective.name}' does not train on the top-k store")
        self.objective, self.ce_weight, self.kd_knobs = objective, ce_weight, kd_knobs
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
                                         objective=self.objective.name, ce_weight=self.ce_weight,
                                         vocab_size=self.vocab_size, **self.kd_knobs)
        self._metrics[mode]["ce_loss"].append(parts.ce.item())
        self._metrics[mode]["kd_loss"].append(parts.kd.item())
        return (parts.total, outputs) if return_outputs else parts.total


RATIONALE_TASK = "\n\nExplain your reasoning step by step."
"""Appended to the prompt of step_by_step's rationale task; the answer task uses the plain prompt, as at inference."""
TASK_LOSS_NAMES = {0: "ce_loss", 1: "rationale_loss"}


def build_step_by_step_examples(outputs: TeacherOutputs, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Distilling Step-by-Step: per teacher row an answer task (prompt -> answer) and a rationale task.

    Rows whose teacher output lacked the 'Rationale: ... Answer: ...' shape have no parts and are skipped.
    """
    rows = []
    for r in outputs.frame.itertuples():
        rationale, answer = getattr(r, "rationale", None), getattr(r, "answer", None)
        if not isinstance(rationale, str) or not isinstance(answer, str):
            continue
        for task, prompt, target in ((0, r.prompt, answer), (1, r.prompt + RATIONALE_TASK, rationale)):
            prompt_ids = encode_chat_prompt(tokenizer, prompt)
            target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            budget = max_length - len(prompt_ids)
            if budget >= 1:
                rows.append({"input_ids": prompt_ids + target_ids[:budget],
                             "labels": [IGNORE] * len(prompt_ids) + target_ids[:budget], "task": task})
    if not rows:
        raise ValueError("step_by_step: no row has a rationale and answer: neither a self-consistency vote "
                         "(synthesis.rationale_categories) nor a teacher reply in the 'Rationale: ... Answer: ...' shape "
                         "(teacher.rationales: true; check the teacher follows it); or pick another objective")
    return Dataset.from_list(rows)


@dataclass
class TaskCollator:
    """Right-pads a batch of token examples; `task` (default 0) says which loss each example feeds."""

    pad_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        batch = {
            "input_ids": torch.full((len(features), width), self.pad_id),
            "attention_mask": torch.zeros((len(features), width), dtype=torch.long),
            "labels": torch.full((len(features), width), IGNORE),
            "task": torch.tensor([f.get("task", 0) for f in features]),
        }
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            batch["input_ids"][row, :n] = torch.tensor(f["input_ids"])
            batch["attention_mask"][row, :n] = 1
            batch["labels"][row, :n] = torch.tensor(f["labels"])
        return batch


class MultiTaskCETrainer(SFTTrainer):
    """Cross-entropy on the teacher's text: loss = sum over tasks of weight * mean CE over that task's tokens.

    sft uses one task (sequence-level KD); step_by_step adds the rationale task with `rationale_weight`.
    """

    def __init__(self, *args, task_weights: dict[int, float], **kwargs):
        super().__init__(*args, **kwargs)
        self.task_weights = task_weights

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
        logits, targets = outputs.logits[:, :-1], inputs["labels"][:, 1:]
        task = inputs["task"][:, None].expand_as(targets)
        loss = logits[:0].sum().float()  # zero with a gradient path, for batches without tokens
        for index, weight in self.task_weights.items():
            mask = (targets != IGNORE) & (task == index)
            if mask.any():
                part = token_cross_entropy(logits[mask], targets[mask])
                loss = loss + weight * part
                self._metrics[mode][TASK_LOSS_NAMES[index]].append(part.item())
        return (loss, outputs) if return_outputs else loss


@dataclass
class OnPolicyCollator:
    """Teacher-labelled examples for GKD: full sequences right-padded, prompts left-padded for generation."""

    pad_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = TaskCollator(self.pad_id)(features)
        width = max(len(f["prompt_ids"]) for f in features)
        batch["prompts"] = torch.full((len(features), width), self.pad_id)
        batch["prompt_attention_mask"] = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["prompt_ids"])
            batch["prompts"][row, width - n :] = torch.tensor(f["prompt_ids"])
            batch["prompt_attention_mask"][row, width - n :] = 1
        return batch


def _gkd_trainer_class():
    from trl.experimental.gkd import (
        GKDTrainer,  # experimental in TRL 1.16: imported only when gkd is chosen
    )

    class OnPolicyDistillationTrainer(GKDTrainer):
        """TRL's GKD (a fraction lmbda of batches are student samples scored by the teacher online), plus:

        the softening temperature applied to the generalized JSD (TRL's GKD uses it for sampling only), the
        `ce_weight` mix with cross-entropy on the teacher's text (off-policy batches only: CE on the student's
        own samples would just reinforce them), and CE and KD logged separately.
        """

        def __init__(self, *args, ce_weight: float, **kwargs):
            super().__init__(*args, **kwargs)
            self.ce_weight, self._on_policy = ce_weight, False

        def training_step(self, model, inputs, num_items_in_batch=None):
            self._on_policy = False
            return super().training_step(model, inputs, num_items_in_batch)

        def generate_on_policy_outputs(self, model, inputs, generation_config):
            self._on_policy = True
            return GKDTrainer.generate_on_policy_outputs(model, inputs, generation_config)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
            with torch.no_grad():
                teacher_logits = self.teacher_model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
            labels = inputs["labels"][:, 1:]
            kd = self.generalized_jsd_loss(outputs.logits[:, :-1], teacher_logits[:, :-1], labels=labels, beta=self.beta,
                                           temperature=self.temperature) * self.temperature**2
            loss = kd
            if not self._on_policy and self.ce_weight > 0:
                mask = labels != IGNORE
                ce = token_cross_entropy(outputs.logits[:, :-1][mask], labels[mask])
                loss = self.ce_weight * ce + (1.0 - self.ce_weight) * kd
                self._metrics[mode]["ce_loss"].append(ce.item())
            self._metrics[mode]["kd_loss"].append(kd.item())
            self._metrics[mode]["on_policy"].append(float(self._on_policy))
            return (loss, outputs) if return_outputs else loss

    return OnPolicyDistillationTrainer


@dataclass
class TrainResult:
    model_dir: Path
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    num_examples: int = 0
    warnings: list[str] = field(default_factory=list)
    resumed_from_step: int = 0
    train_ids: list[str] = field(default_factory=list)  # the rows it learned from: the train split only


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
    *,
    teacher_dir: Path | None = None,
    checkpoints: CheckpointMirror | None = None,
    callbacks: tuple[TrainerCallback, ...] = (),
) -> TrainResult:
    """Train the student at `student_dir` on the train split of `outputs` with `config.objective`; save to `out_dir`.

    `teacher_dir` is needed by on-policy objectives only. With `checkpoints` (and `config.save_steps`), each
    checkpoint is mirrored there and a restarted call resumes from the newest; they are cleared once the model is saved.
    """
    model = AutoModelForCausalLM.from_pretrained(student_dir, dtype=torch.float32)
    vocab_size = check_training_vocab(tokenizer, lm_head_of(model).weight.shape[0], outputs.meta.tokenizer_sha256,
                                      outputs.meta.vocab_size, _max_topk_id(outputs))
    history = _History()
    with tempfile.TemporaryDirectory(prefix="fastdistill-train-") as scratch:
        hooks = [history, *callbacks] + ([checkpoints.callback()] if checkpoints is not None else [])
        resume = checkpoints.restore_latest(Path(scratch)) if checkpoints is not None else None
        trainer = _make_trainer(config, model, tokenizer, outputs.split(TRAIN), scratch, hooks, teacher_dir,
                                vocab_size)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        seconds = time.perf_counter() - started
        trainer.save_model(str(out_dir))  # model and tokenizer, from the main process only when distributed
    if checkpoints is not None:
        checkpoints.clear()
    resumed = int(resume.name.split("-")[-1]) if resume else 0
    return TrainResult(out_dir, history.rows, seconds, len(trainer.train_dataset), kd_scale_warnings(history.rows), resumed,
                       [str(i) for i in outputs.split(TRAIN).frame["id"]])


def _make_trainer(config: TrainingConfig, model, tokenizer, rows: TeacherOutputs, scratch: str, callbacks: list,
                  teacher_dir: Path | None, vocab_size: int | None) -> SFTTrainer:
    common = {"model": model, "processing_class": tokenizer, "callbacks": callbacks}
    objective = config.objective_record
    if objective.trainer == "on_policy":
        if teacher_dir is None:
            raise ValueError(f"objective {objective.name} trains on-policy: it needs the teacher model (teacher_dir)")
        return _on_policy_trainer(config, rows, scratch, teacher_dir, common)
    if objective.trainer == "cross_entropy":
        if objective.needs_rationales:
            dataset = build_step_by_step_examples(rows, tokenizer, config.max_length)
            weights = {0: 1.0, 1: config.rationale_weight}
        else:
            dataset, weights = build_examples(rows, config.max_length), {0: 1.0}
        return MultiTaskCETrainer(args=_sft_config(config, scratch), train_dataset=dataset,
                                  data_collator=TaskCollator(tokenizer.pad_token_id), task_weights=weights, **common)
    return TopKDistillationTrainer(
        args=_sft_config(config, scratch),
        train_dataset=build_examples(rows, config.max_length),
        data_collator=TopKCollator(tokenizer.pad_token_id, rows.meta.top_k),
        objective=objective,
        ce_weight=config.ce_weight,
        kd_knobs={knob: getattr(config, knob) for knob in objective.loss_knobs},
        vocab_size=vocab_size,
        **common,
    )


def _on_policy_trainer(config: TrainingConfig, rows: TeacherOutputs, scratch: str, teacher_dir: Path, common: dict):
    from trl.experimental.gkd import GKDConfig

    dataset = build_examples(rows, config.max_length).map(
        lambda ex: {"prompt_ids": ex["input_ids"][: ex["labels"].count(IGNORE)]},
        remove_columns=["teacher_topk_ids", "teacher_topk_logprobs"],
    )
    args = GKDConfig(**_trainer_arguments(config, scratch), lmbda=config.lmbda, beta=config.beta, temperature=config.temperature,
                     max_new_tokens=config.on_policy_max_new_tokens)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32)
    return _gkd_trainer_class()(teacher_model=teacher, args=args, train_dataset=dataset,
                                data_collator=OnPolicyCollator(common["processing_class"].pad_token_id),
                                ce_weight=config.ce_weight, **common)


def _max_topk_id(outputs: TeacherOutputs) -> int:
    return max((int(ids.max()) for ids in outputs.frame["topk_ids"] if len(ids)), default=-1)


def _sft_config(config: TrainingConfig, output_dir: str) -> SFTConfig:
    return SFTConfig(**_trainer_arguments(config, output_dir))


def _trainer_arguments(config: TrainingConfig, output_dir: str) -> dict:
    checkpointing = {"save_strategy": "steps", "save_steps": config.save_steps} if config.save_steps else {"save_strategy": "no"}
    return dict(
        output_dir=output_dir,
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type="cosine",
        logging_steps=1,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        # TRL turns bf16 on by default; on a CPU without native bf16 the fused loss's lm_head matmuls then run
        # emulated, measured at 156 s per quickstart step against 11 s in fp32.
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        # TRL also turns activation checkpointing on by default: kept for GPU memory; off on CPU, where memory is
        # rarely short (3 quickstart steps measured 16.8 s with it and 16.5 s without: no speed to win either way).
        activation_checkpointing=(torch.cuda.is_available() if config.activation_checkpointing is None
                                  else config.activation_checkpointing),
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        dataloader_num_workers=0,
        disable_tqdm=False,
        **checkpointing,
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
