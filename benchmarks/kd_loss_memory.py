"""Peak memory and time of the KD loss: fused chunked lm_head + loss vs a naive dense implementation.

Student: layers selected from the packaged teacher (SmolLM2-135M-Instruct,
vocabulary 49,152, hidden 576). Data: 4 sequences of 1,025 tokens of the seed
tasks' text, so 4,096 response tokens, each with the teacher's top-k (k=8 by
default: computed here once with torch.topk over the teacher's log-softmax, as
the store would hold them). Two measurements, each variant in a fresh
subprocess:

- loss: forward + backward from the student's final hidden states [4096, 576]
  (lm_head included, its weight gradient too) to the loss
  `ce_weight * CE + (1 - ce_weight) * forward KL`.
    fused: `fastdistill.training.fused_loss.fused_linear_kd_loss`.
    dense: full student logits, log_softmax over the vocabulary, the teacher's
           top-k scattered into a dense [N, V] distribution, KL over the vocabulary.
- step: a whole training step (student forward, loss, backward, AdamW step).
    fused: the forward that `TopKDistillationTrainer.compute_loss` uses (the model
           projects one position; the loss takes the final hidden states).
    dense: the model's full logits and the dense loss.

Peak memory is the rise of the process's peak resident set size above its
resident size just before the measured runs: freed heap is returned to the OS
(`malloc_trim`), the kernel's high-water mark is reset (`/proc/self/clear_refs`
"5"), the runs execute, and `VmHWM - VmRSS(before)` is read from
`/proc/self/status`. It counts every page torch (or anything else) touched,
which tracemalloc would not see. It is measured on one run after a
warm-up run. Time is measured separately, both variants in one process with
their runs interleaved (the fastest of `--reps` counts), so load from other
processes on a shared machine hits both alike. Prints one JSON line.

    .venv/bin/python benchmarks/kd_loss_memory.py [--layers 6] [--top-k 8] [--reps 3]
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import click
import torch
import torch.nn.functional as F

SEQUENCES, SEQ_LEN = 4, 1025  # 4 x 1,024 predicted positions = 4,096 response tokens
CE_WEIGHT, TEMPERATURE = 0.5, 1.0


# --- measuring --------------------------------------------------------------------------------------------------

def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> int:
    """Return freed heap to the OS, reset the peak RSS to the current RSS, and return that RSS (KiB)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def _measure_memory(run) -> dict:
    run()  # warm-up: lazy allocations (optimizer state, kernels) are not what is measured
    before = _reset_peak()
    value = run()
    return {"peak_mib": round((_status_kib("VmHWM") - before) / 1024, 1), "loss": value}


def _measure_time(runs: dict, reps: int) -> dict:
    """Fastest of `reps` runs per variant, the variants interleaved so load from other processes hits both alike."""
    seconds = {name: [] for name in runs}
    for name, run in runs.items():
        run()  # warm-up
    for _ in range(reps):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return {name: round(min(values), 3) for name, values in seconds.items()}


# --- the two losses ---------------------------------------------------------------------------------------------

def dense_loss(logits, targets, topk_ids, topk_logprobs):
    """The naive reference: everything over the full vocabulary, in fp32."""
    log_q = torch.log_softmax(logits.float() / TEMPERATURE, dim=-1)
    p = torch.zeros_like(log_q).scatter_(1, topk_ids, torch.softmax(topk_logprobs.float() / TEMPERATURE, -1))
    kd = (torch.xlogy(p, p) - p * log_q).sum(-1).mean() * TEMPERATURE**2
    ce = F.cross_entropy(logits.float(), targets)
    return CE_WEIGHT * ce + (1 - CE_WEIGHT) * kd


def fused_loss(hidden, weight, targets, topk_ids, topk_logprobs):
    from fastdistill.training.fused_loss import fused_linear_kd_loss

    return fused_linear_kd_loss(hidden, weight, targets, topk_ids, topk_logprobs, objective="fkl",
                                ce_weight=CE_WEIGHT, temperature=TEMPERATURE).total


# --- child: one variant, one measurement ------------------------------------------------------------------------

def _child(variant: str, part: str, workdir: Path, reps: int) -> dict:
    """variant "fused" or "dense": its peak memory; "both": the time of each, interleaved in this process."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    data = torch.load(workdir / "inputs.pt")
    model = AutoModelForCausalLM.from_pretrained(workdir / "student", dtype=torch.float32)
    targets = data["input_ids"][:, 1:].reshape(-1)
    ids, lps = data["topk_ids"], data["topk_logprobs"]
    make = _loss_run if part == "loss" else _step_run
    if variant == "both":
        return _measure_time({v: make(v, model, data["input_ids"], targets, ids, lps) for v in ("dense", "fused")}, reps)
    return _measure_memory(make(variant, model, data["input_ids"], targets, ids, lps))


def _loss_run(variant, model, input_ids, targets, ids, lps):
    model.train()
    with torch.no_grad():
        hidden = model.model(input_ids=input_ids).last_hidden_state[:, :-1].reshape(-1, model.config.hidden_size)
    hidden.requires_grad_()
    weight = model.lm_head.weight

    def run() -> float:
        if variant == "fused":
            loss = fused_loss(hidden, weight, targets, ids, lps)
        else:
            loss = dense_loss(hidden @ weight.T, targets, ids, lps)
        loss.backward()
        hidden.grad = weight.grad = None  # so the measured runs allocate the gradients again
        return loss.item()

    return run


def _step_run(variant, model, input_ids, targets, ids, lps):
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)  # lr 0: every step sees the same model and loss
    hidden_size = model.config.hidden_size

    def run() -> float:
        if variant == "fused":
            out = model(input_ids=input_ids, use_cache=False, output_hidden_states=True, logits_to_keep=1)
            states = out.hidden_states[-1][:, :-1].reshape(-1, hidden_size)
            loss = fused_loss(states, model.lm_head.weight, targets, ids, lps)
        else:
            logits = model(input_ids=input_ids, use_cache=False).logits[:, :-1].reshape(-1, model.config.vocab_size)
            loss = dense_loss(logits, targets, ids, lps)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    return run


# --- parent: build inputs once, run every child -----------------------------------------------------------------

def _prepare(workdir: Path, teacher_spec: str, layers: int, top_k: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fastdistill.models import build_student_by_layer_selection, resolve_model

    teacher_dir = resolve_model(teacher_spec)  # the first call dequantizes the GGUF (~40 s), then it is cached
    build_student_by_layer_selection(teacher_dir, layers, workdir / "student", "drop_block")
    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    text = (Path(__file__).resolve().parents[1] / "data" / "seeds.jsonl").read_text()
    tokens = tokenizer(text)["input_ids"]
    while len(tokens) < SEQUENCES * SEQ_LEN:
        tokens = tokens + tokens
    input_ids = torch.tensor(tokens[: SEQUENCES * SEQ_LEN]).reshape(SEQUENCES, SEQ_LEN)
    teacher = AutoModelForCausalLM.from_pretrained(teacher_dir, dtype=torch.float32).eval()
    top_ids, top_lps = [], []
    with torch.no_grad():
        for row in input_ids:  # one sequence at a time: the teacher's full logits are 200 MB per sequence
            logprobs = torch.log_softmax(teacher(input_ids=row[None]).logits[0, :-1].float(), -1)
            top = logprobs.topk(top_k, -1)
            top_ids.append(top.indices)
            top_lps.append(top.values)
    torch.save({"input_ids": input_ids, "topk_ids": torch.cat(top_ids), "topk_logprobs": torch.cat(top_lps)},
               workdir / "inputs.pt")
    return {"vocab": teacher.config.vocab_size, "hidden": teacher.config.hidden_size,
            "teacher_layers": teacher.config.num_hidden_layers}


def _run_child(variant: str, part: str, workdir: Path, reps: int) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--part", part, "--workdir", str(workdir), "--reps", str(reps)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratios(fused: dict, dense: dict) -> dict:
    return {"memory_ratio": round(dense["peak_mib"] / max(fused["peak_mib"], 0.1), 2),
            "speed_ratio": round(dense["seconds"] / fused["seconds"], 2)}


def _part(part: str, workdir: Path, reps: int) -> dict:
    print(f"measuring {part}: memory of each variant, then their time ...", file=sys.stderr, flush=True)
    fused, dense = (_run_child(v, part, workdir, reps) for v in ("fused", "dense"))
    seconds = _run_child("both", part, workdir, reps)
    fused["seconds"], dense["seconds"] = seconds["fused"], seconds["dense"]
    return {"fused": fused, "dense": dense, **_ratios(fused, dense)}


@click.command()
@click.option("--teacher", default="packaged:smollm2-135m-instruct", show_default=True)
@click.option("--layers", default=6, show_default=True, help="Decoder layers of the layer-selected student.")
@click.option("--top-k", default=8, show_default=True)
@click.option("--reps", default=3, show_default=True, help="Timed runs per variant (after one warm-up); the fastest counts.")
@click.option("--child", type=click.Choice(["fused", "dense", "both"]), default=None, hidden=True)
@click.option("--part", type=click.Choice(["loss", "step"]), default="loss", hidden=True)
@click.option("--workdir", type=click.Path(path_type=Path), default=None, hidden=True)
def main(teacher: str, layers: int, top_k: int, reps: int, child: str | None, part: str, workdir: Path | None) -> None:
    if child:
        print(json.dumps(_child(child, part, workdir, reps)))
        return
    with tempfile.TemporaryDirectory(prefix="kd-loss-memory-") as tmp:
        shape = _prepare(Path(tmp), teacher, layers, top_k)
        loss, step = _part("loss", Path(tmp), reps), _part("step", Path(tmp), reps)
    loss["abs_loss_difference"] = abs(loss["fused"]["loss"] - loss["dense"]["loss"])
    print(json.dumps({"tokens": SEQUENCES * (SEQ_LEN - 1), **shape, "student_layers": layers, "top_k": top_k,
                      "threads": torch.get_num_threads(), "reps": reps, "loss": loss, "train_step": step}))


if __name__ == "__main__":
    main()
