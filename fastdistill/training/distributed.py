"""Multi-GPU training of one trial: the step hands the job to `accelerate launch` and reads back the result.

ZenML's `run_with_accelerate` passes step arguments as command-line strings,
which cannot carry a teacher-output store or typed configs. So the step
writes the job to a directory instead (the top-k store, the configs as JSON),
launches `python -m accelerate.commands.launch ... -m fastdistill.training.distributed JOB`,
and every process runs the same `train_student`; the HF Trainer sees the
distributed environment accelerate sets up and shards the batches. Only the
main process saves the model and writes `result.json`.

GPU-only in practice (`--multi_gpu` with num_processes > 1). With one
process the same path runs anywhere, which is how CPU tests exercise it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from fastdistill.config import TrainingConfig
from fastdistill.inference.topk_store import TeacherOutputs


def check_gpus(num_processes: int, available: int) -> None:
    if num_processes > 1 and available < num_processes:
        raise RuntimeError(
            f"training.num_processes={num_processes} needs {num_processes} GPUs in the training pod, which sees {available}; "
            f"request nvidia.com/gpu: {num_processes} in the train_student step's pod_settings, or set training.num_processes: 1"
        )


def write_job(job_dir: Path, outputs: TeacherOutputs, student_dir: Path, config: TrainingConfig, out_dir: Path,
              teacher_dir: Path | None) -> None:
    outputs.save(job_dir / "teacher_outputs")
    spec = {"student_dir": str(student_dir), "teacher_dir": str(teacher_dir) if teacher_dir else None,
            "out_dir": str(out_dir), "training": config.model_dump(mode="json")}
    (job_dir / "job.json").write_text(json.dumps(spec))


def launch_command(job_dir: Path, num_processes: int) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--multi_gpu"] if num_processes > 1 else []
    return [*command, "-m", "fastdistill.training.distributed", str(job_dir)]


def run_job(job_dir: Path, num_processes: int) -> dict:
    """Launch the job with accelerate and return what the main process reported (see `_worker`)."""
    completed = subprocess.run(launch_command(job_dir, num_processes), check=False)
    result = job_dir / "result.json"
    if completed.returncode != 0 or not result.exists():
        raise RuntimeError(f"accelerate launch of {job_dir} failed with exit code {completed.returncode}; see its log above")
    return json.loads(result.read_text())


def train_with_accelerate(student_dir: Path, outputs: TeacherOutputs, config: TrainingConfig, out_dir: Path,
                          job_dir: Path, teacher_dir: Path | None = None, available_gpus: int | None = None):
    """`training.train_student` across `config.num_processes` GPUs (no checkpoint mirroring on this path yet)."""
    from fastdistill.training.trainers import TrainResult

    if available_gpus is None:
        import torch

        available_gpus = torch.cuda.device_count()
    check_gpus(config.num_processes, available_gpus)
    job_dir.mkdir(parents=True, exist_ok=True)
    write_job(job_dir, outputs, student_dir, config, out_dir, teacher_dir)
    report = run_job(job_dir, config.num_processes)
    fields = {k: report[k] for k in ("history", "seconds", "num_examples", "warnings", "resumed_from_step", "train_ids")}
    return TrainResult(Path(report["model_dir"]), **fields)


def _worker(job_dir: Path) -> None:
    from accelerate import PartialState

    from fastdistill.inference.chat import load_tokenizer
    from fastdistill.training.trainers import train_student

    spec = json.loads((job_dir / "job.json").read_text())
    student_dir = Path(spec["student_dir"])
    result = train_student(
        student_dir, load_tokenizer(student_dir), TeacherOutputs.load(job_dir / "teacher_outputs"),
        TrainingConfig.model_validate(spec["training"]), Path(spec["out_dir"]),
        teacher_dir=Path(spec["teacher_dir"]) if spec["teacher_dir"] else None,
    )
    if PartialState().is_main_process:
        payload = {**asdict(result), "model_dir": str(result.model_dir), "num_processes": PartialState().num_processes}
        (job_dir / "result.json").write_text(json.dumps(payload))


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
