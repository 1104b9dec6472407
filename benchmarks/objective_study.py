"""A study, not an anecdote: the offline KD objectives compared on the same test prompts, over seeds, with CIs.

Every objective (sft, fkl, rkl, jsd, skl, srkl by default) trains one student
per seed from the same starting point (the teacher's layers, see
`--num-layers`) on the same teacher outputs, and is scored on the same test
prompts. Per objective the script reports, on the TEST split:

- the mean of each main metric (rougeL_vs_teacher, rougeL_vs_reference,
  teacher_forced_kl, top1_agreement) with its bootstrap 95% CI, where each
  test example's value is first averaged over the seeds;
- the PAIRED difference against the baseline objective (sft) on the same
  test prompts, with its CI (`*` where the CI excludes 0);
- the seed-to-seed spread: each seed's own mean and their standard deviation.

The pipeline is the library's: prompts from `study_prompts.py` (eight
categories, computed references) split per category with
`fastdistill.data.splits.assign_splits`; the teacher labels train and test
once (`fastdistill.inference.labelling.label`, greedy, top-k 8); each trial
is `prepare_student` + `train_student`; each student is scored by
`fastdistill.evaluation.suite.evaluate_student` (no judge, no speed
measurements). The untrained starting point is scored too (row `init`), so
what training bought is visible.

Prints one progress line per trial with its seconds, a table per metric and
one JSON line per objective; `--output` writes everything (settings, the
command, prompt counts, per objective estimates, paired deltas, per-seed
values and per-example values, seconds).

    .venv/bin/python benchmarks/objective_study.py --smoke               # tiny teacher, ~2 min
    .venv/bin/python benchmarks/objective_study.py --output study.json   # the full study (see benchmarks/README.md)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
import study_prompts

from fastdistill.config import (
    EvaluationConfig,
    StudentConfig,
    TeacherConfig,
    TrainingConfig,
)
from fastdistill.data.splits import TEST, TRAIN, assign_splits
from fastdistill.evaluation.scores import Scores
from fastdistill.evaluation.statistics import Estimate
from fastdistill.evaluation.suite import evaluate_student
from fastdistill.inference.hf import HFBackend
from fastdistill.inference.labelling import label
from fastdistill.models import resolve_model
from fastdistill.training.objectives import OBJECTIVES
from fastdistill.training.trainers import prepare_student, train_student

METRICS = ("rougeL_vs_teacher", "rougeL_vs_reference", "teacher_forced_kl", "top1_agreement")
LOWER_IS_BETTER = {"teacher_forced_kl"}
DEFAULT_OBJECTIVES = ("sft", "fkl", "rkl", "jsd", "skl", "srkl")
TEST_FRACTION = 0.25  # of the generated pool; --train/--test then take that many of each split
SMOKE = {"teacher": "tiny:teacher", "objectives": ("sft", "fkl"), "seeds": (0,), "train": 20, "test": 10,
         "epochs": 1.0, "num_layers": 2, "max_new_tokens": 16}


def take_stratified(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """`n` rows taken round-robin over the categories (each in id order), so every category is represented."""
    queues = {c: list(g.sort_values("id").index) for c, g in frame.groupby("category", sort=True)}
    picked: list = []
    while len(picked) < n and any(queues.values()):
        for category in sorted(queues):
            if queues[category] and len(picked) < n:
                picked.append(queues[category].pop(0))
    if len(picked) < n:
        raise ValueError(f"only {len(picked)} rows available, asked for {n}")
    return frame.loc[sorted(picked)]


def study_rows(n_train: int, n_test: int, prompt_seed: int) -> pd.DataFrame:
    """Generated tasks split stratified per category (no validation: nothing is selected), then trimmed."""
    n_cat = len(study_prompts.CATEGORIES)
    per_category = max(study_prompts.DEFAULT_PER_CATEGORY, math.ceil(n_train / (1 - TEST_FRACTION) / n_cat) + 2,
                       math.ceil(n_test / TEST_FRACTION / n_cat) + 2)
    frame = pd.DataFrame(study_prompts.generate(per_category, prompt_seed))
    frame["split"] = assign_splits(frame, 0.0, TEST_FRACTION, seed=prompt_seed)
    train = take_stratified(frame[frame["split"] == TRAIN], n_train)
    test = take_stratified(frame[frame["split"] == TEST], n_test)
    return pd.concat([train, test]).reset_index(drop=True)


@contextlib.contextmanager
def quiet(log_path: Path | None):
    """The library's progress bars and per-step loss lines go to a log file, so the study's own lines stay legible."""
    if log_path is None:
        yield
        return
    with open(log_path, "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def averaged(runs: list[Scores]) -> Scores:
    """One objective's per-example values averaged over its seeds (all scored on the same test examples)."""
    first = runs[0]
    per_example = {}
    for metric in METRICS:
        for run in runs[1:]:
            if run.ids != first.ids:
                raise ValueError("seeds were scored on different test examples")
        columns = [run.per_example[metric] for run in runs]
        mean = []
        for values in zip(*columns):
            kept = [v for v in values if v is not None and math.isfinite(v)]
            mean.append(sum(kept) / len(kept) if kept else None)
        per_example[metric] = mean
    weights = {m: first.weights[m] for m in METRICS if m in first.weights}
    return Scores(split=first.split, ids=first.ids, per_example=per_example, weights=weights, seed=first.seed)


def _est(e: Estimate | None) -> dict | None:
    if e is None:
        return None
    return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n}


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(name: str, runs: list[Scores], baseline: Scores | None) -> dict:
    mean = averaged(runs)
    out: dict = {"metrics": {}}
    for metric in METRICS:
        seed_values = [run.estimate(metric).value for run in runs]
        delta = mean.paired_difference(baseline, metric) if baseline is not None else None
        out["metrics"][metric] = {"estimate": _est(mean.estimate(metric)), "delta_vs_baseline": _est(delta),
                                  "delta_excludes_0": bool(delta.excludes(0.0)) if delta is not None else None,
                                  "seed_values": seed_values, "seed_sd": _spread(seed_values)}
    out["per_example"] = {"ids": mean.ids, **{m: mean.per_example[m] for m in METRICS}}
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def json_line(name: str, r: dict, n_test: int, baseline: str | None) -> dict:
    """One objective's summary, like the other benchmarks' one-line JSON."""
    line = {"benchmark": "objective_study", "objective": name, "test_n": n_test, "seeds": r.get("seeds", []),
            "baseline": baseline}
    for metric in METRICS:
        m = r["metrics"][metric]
        est, delta = m["estimate"], m["delta_vs_baseline"] or {}
        line[metric] = {"mean": _r(est["value"]), "ci": [_r(est["ci_low"]), _r(est["ci_high"])],
                        "delta": _r(delta.get("value")), "delta_ci": [_r(delta.get("ci_low")), _r(delta.get("ci_high"))],
                        "seed_values": [_r(v) for v in m["seed_values"]]}
    for key in ("train_seconds", "eval_seconds"):
        line[key] = round(sum(r.get(key, [])), 1) or None
    return line


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(e: dict | None, signed: bool = False) -> str:
    if e is None:
        return "-"
    f = (lambda v: f"{v:+.3f}") if signed else (lambda v: f"{v:.3f}")
    if e["ci_low"] is None:
        return f(e["value"])
    return f"{f(e['value'])} [{f(e['ci_low'])}, {f(e['ci_high'])}]"


def print_tables(results: dict, baseline: str, n_test: int, n_seeds: int) -> None:
    for metric in METRICS:
        better = "lower" if metric in LOWER_IS_BETTER else "higher"
        print(f"\n{metric} ({better} is better; test n={n_test}; mean over {n_seeds} seed(s) per example, 95% CI; "
              f"paired delta vs {baseline}, * = CI excludes 0)")
        print(f"{'objective':<10} {'mean [95% CI]':<27} {'delta vs ' + baseline + ' [95% CI]':<30} "
              f"{'per seed':<22} {'seed sd':>7}")
        for name, r in results.items():
            m = r["metrics"][metric]
            star = " *" if m["delta_excludes_0"] and name != baseline else ""
            delta = "(baseline)" if name == baseline else _ci(m["delta_vs_baseline"], signed=True) + star
            seeds = " / ".join(_fmt(v) for v in m["seed_values"])
            print(f"{name:<10} {_ci(m['estimate']):<27} {delta:<30} {seeds:<22} {_fmt(m['seed_sd']):>7}")


def score(model_dir: Path, outputs, eval_config: EvaluationConfig, log_path: Path | None):
    with quiet(log_path):
        backend = HFBackend(model_dir)
        result = evaluate_student(backend, outputs, eval_config)
    return result


def parse_args(argv: list[str] | None = None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--objectives", nargs="+", default=list(DEFAULT_OBJECTIVES),
                   help="Offline objectives (space- or comma-separated).")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="Training seeds per objective.")
    p.add_argument("--baseline", default="sft", help="Objective the paired deltas are taken against.")
    p.add_argument("--teacher", default="packaged:smollm2-135m-instruct", help="Teacher spec (nothing is downloaded).")
    p.add_argument("--train", dest="n_train", type=int, default=200, help="Train prompts the teacher labels.")
    p.add_argument("--test", dest="n_test", type=int, default=60, help="Test prompts every student is scored on.")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--num-layers", type=int, default=10, help="Student: this many of the teacher's layers (drop_block).")
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64,
                   help="Token budget of the teacher's labels and of the students' scored answers (identical).")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice, one per core); 1 on a crowded machine measures "
                   "CPU time without thread-pool spinning")
    p.add_argument("--prompt-seed", type=int, default=0, help="Seed of the prompt generator and of the split.")
    p.add_argument("--output", type=Path, help="Write the results JSON here.")
    p.add_argument("--work-dir", type=Path, help="Where students are written (default: a temporary directory).")
    p.add_argument("--keep-models", action="store_true", help="Keep every trained student under --work-dir.")
    p.add_argument("--verbose", action="store_true", help="Show the library's progress bars and per-step losses "
                   "(otherwise they go to library.log in the work directory).")
    p.add_argument("--smoke", action="store_true", help=f"A 2-minute check with a tiny teacher: {SMOKE}.")
    args = p.parse_args(argv)
    args.objectives = [o.strip() for item in args.objectives for o in item.split(",") if o.strip()]
    if args.smoke:
        args.teacher, args.objectives, args.seeds = SMOKE["teacher"], list(SMOKE["objectives"]), list(SMOKE["seeds"])
        args.n_train, args.n_test, args.epochs = SMOKE["train"], SMOKE["test"], SMOKE["epochs"]
        args.num_layers, args.max_new_tokens = SMOKE["num_layers"], SMOKE["max_new_tokens"]
    unknown = [o for o in args.objectives if o not in OBJECTIVES]
    if unknown:
        p.error(f"--objectives: unknown {unknown}; objectives: {list(OBJECTIVES)}")
    not_offline = [o for o in args.objectives if not OBJECTIVES[o].offline or OBJECTIVES[o].needs_rationales]
    if not_offline:
        p.error(f"--objectives: {not_offline} need the teacher online or its rationales; this study is offline")
    if len(set(args.seeds)) != len(args.seeds) or len(set(args.objectives)) != len(args.objectives):
        p.error("--seeds and --objectives must not repeat a value")
    if args.n_train < 8 or args.n_test < 2 or args.epochs <= 0 or args.num_layers < 1 or args.max_new_tokens < 1:
        p.error("need --train >= 8, --test >= 2, --epochs > 0, --num-layers >= 1, --max-new-tokens >= 1")
    if args.baseline in args.objectives:  # the baseline trains first
        args.objectives = [args.baseline] + [o for o in args.objectives if o != args.baseline]
    return args


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    names, seed_values, baseline = a.objectives, a.seeds, a.baseline
    teacher, n_train, n_test, epochs, num_layers = a.teacher, a.n_train, a.n_test, a.epochs, a.num_layers
    learning_rate, batch_size, max_new_tokens, prompt_seed = a.learning_rate, a.batch_size, a.max_new_tokens, a.prompt_seed
    output, work_dir, keep_models, verbose, smoke = a.output, a.work_dir, a.keep_models, a.verbose, a.smoke
    baseline_note = "" if baseline in names else f"(baseline {baseline} not trained: no paired deltas)"
    started = time.perf_counter()
    settings = {"teacher": teacher, "objectives": names, "seeds": seed_values, "baseline": baseline,
                "train": n_train, "test": n_test, "epochs": epochs, "num_layers": num_layers,
                "learning_rate": learning_rate, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
                "top_k": 8, "prompt_seed": prompt_seed, "smoke": smoke, "torch_threads": _threads()}
    print(f"objective study: {json.dumps(settings)} {baseline_note}", flush=True)

    rows = study_rows(n_train, n_test, prompt_seed)
    counts = rows.groupby(["category", "split"]).size().unstack(fill_value=0)
    print("prompts per category and split:\n" + counts.to_string(), flush=True)

    own_dir = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="objective-study-")) if own_dir else work_dir
    work.mkdir(parents=True, exist_ok=True)
    log_path = None if verbose else work / "library.log"
    try:
        results, timing = _run(rows, names, seed_values, baseline, teacher, epochs, num_layers, learning_rate,
                               batch_size, max_new_tokens, work, keep_models, log_path)
    finally:
        if own_dir and not keep_models:
            shutil.rmtree(work, ignore_errors=True)
    base = baseline if baseline in names else None
    print_tables({k: v for k, v in results.items()}, base or "-", n_test, len(seed_values))
    for name, r in results.items():
        print(json.dumps(json_line(name, r, n_test, base)))
    total = time.perf_counter() - started
    cpu = time.process_time()
    print(f"total {total:.0f} s ({total / 60:.1f} min), cpu {cpu:.0f} s: {json.dumps(timing)}")
    if output is not None:
        document = {"benchmark": "objective_study", "command": shlex.join([".venv/bin/python", *sys.argv]),
                    "settings": settings, "prompt_counts": {s: {c: int(n) for c, n in counts[s].items()}
                                                            for s in counts.columns},
                    "timing_seconds": {**timing, "total": {"wall": round(total, 1), "cpu": round(cpu, 1)}}, "results": results,
                    "test_prompts": rows.loc[rows["split"] == TEST, ["id", "category", "prompt", "reference"]]
                    .to_dict("records")}
        output.write_text(json.dumps(document, indent=1, default=float))
        print(f"wrote {output}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


class Clock:
    """Wall-clock and CPU seconds of a block (CPU: this process, all threads). On a shared machine the wall time
    depends on the load; the CPU time much less (it is what an estimate for another machine starts from)."""

    def __enter__(self) -> Self:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu

    def record(self) -> dict:
        return {"wall": round(self.wall, 1), "cpu": round(self.cpu, 1)}

    def text(self) -> str:
        return f"{self.wall:.0f} s (cpu {self.cpu:.0f} s)"


def _run(rows, names, seed_values, baseline, teacher, epochs, num_layers, learning_rate, batch_size, max_new_tokens,
         work: Path, keep_models: bool, log_path: Path | None) -> tuple[dict, dict]:
    teacher_config = TeacherConfig(model=teacher, top_k=8, max_new_tokens=max_new_tokens, batch_size=16)
    eval_config = EvaluationConfig(judge_pairs=0, efficiency_prompts=0, max_new_tokens=max_new_tokens)
    timing: dict = {}

    with Clock() as clock, quiet(log_path):
        backend = HFBackend(resolve_model(teacher))
        outputs = label(backend, rows, teacher_config)
    timing["teacher_labelling"] = clock.record()
    lengths = outputs.frame["response_ids"].map(len)
    print(f"teacher labelled {len(rows)} prompts in {clock.text()}: {backend.stats.tokens_per_s:.1f} tokens/s; "
          f"response tokens mean {lengths.mean():.1f}, {(lengths >= max_new_tokens).mean():.0%} hit the "
          f"{max_new_tokens}-token budget", flush=True)
    del backend

    with Clock() as clock, quiet(log_path):
        init_dir, tokenizer, info = prepare_student(teacher_config, StudentConfig(num_layers=num_layers), work / "init")
    timing["prepare_student"] = clock.record()

    with Clock() as clock:
        init_eval = score(init_dir, outputs, eval_config, log_path)
    timing["init_eval"] = clock.record()
    teacher_ref = init_eval.scores.estimate("teacher_rougeL_vs_reference")
    print(f"student init: {info}; scored untrained in {clock.text()} | "
          + "  ".join(f"{m} {init_eval.scores.estimate(m).value:.3f}" for m in METRICS)
          + f" | the teacher's own rougeL_vs_reference on test: {teacher_ref.text(3)}", flush=True)

    runs: dict[str, list[Scores]] = {}
    extra: dict[str, dict] = {}
    trial = 0
    total_trials = len(names) * len(seed_values)
    for name in names:
        for seed in seed_values:
            trial += 1
            out_dir = work / f"{name}-seed{seed}"
            config = TrainingConfig(objective=name, seed=seed, epochs=epochs, learning_rate=learning_rate,
                                    batch_size=batch_size)
            with Clock() as train_clock, quiet(log_path):
                trained = train_student(init_dir, tokenizer, outputs, config, out_dir)
            with Clock() as eval_clock:
                result = score(trained.model_dir, outputs, eval_config, log_path)
            runs.setdefault(name, []).append(result.scores)
            record = extra.setdefault(name, {"seeds": [], "train_seconds": [], "eval_seconds": [], "train_cpu_seconds": [],
                                             "eval_cpu_seconds": [], "final_loss": [], "train_examples": [],
                                             "warnings": []})
            losses = [h["loss"] for h in trained.history if "loss" in h]
            record["seeds"].append(seed)
            record["train_seconds"].append(round(train_clock.wall, 1))
            record["eval_seconds"].append(round(eval_clock.wall, 1))
            record["train_cpu_seconds"].append(round(train_clock.cpu, 1))
            record["eval_cpu_seconds"].append(round(eval_clock.cpu, 1))
            record["final_loss"].append(losses[-1] if losses else None)
            record["train_examples"].append(trained.num_examples)
            record["warnings"] += [w.message for w in result.warnings if w.code != "small_test_set"] + trained.warnings
            values = "  ".join(f"{m} {result.scores.estimate(m).value:.3f}" for m in METRICS)
            print(f"[{trial}/{total_trials}] {name} seed {seed}: train {train_clock.text()}, {len(losses)} steps, "
                  f"final loss {_fmt(losses[-1] if losses else None)}; eval {eval_clock.text()} | {values}", flush=True)
            if not keep_models:
                shutil.rmtree(out_dir, ignore_errors=True)

    base_scores = averaged(runs[baseline]) if baseline in runs else None
    results = {"init": {**summarise("init", [init_eval.scores], base_scores), "seeds": [], "untrained": True,
                        "eval_seconds": [timing["init_eval"]["wall"]], "eval_cpu_seconds": [timing["init_eval"]["cpu"]],
                        "teacher_rougeL_vs_reference": _est(teacher_ref)}}
    for name in names:
        results[name] = {**summarise(name, runs[name], base_scores), **extra[name]}
    timing["trials"] = {n: {"train": {"wall": sum(extra[n]["train_seconds"]), "cpu": sum(extra[n]["train_cpu_seconds"])},
                            "eval": {"wall": sum(extra[n]["eval_seconds"]), "cpu": sum(extra[n]["eval_cpu_seconds"])}}
                        for n in names}
    timing["teacher"] = {"prompts": len(rows), "tokens_per_s": round(outputs.meta.tokens_per_s, 2),
                         "mean_response_tokens": float(lengths.mean())}
    return results, timing


if __name__ == "__main__":
    main()
