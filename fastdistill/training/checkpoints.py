"""Training checkpoints mirrored to durable storage, so a killed trial resumes instead of restarting.

The HF Trainer writes `checkpoint-N` directories into a local scratch folder;
`CheckpointMirror` copies each one to `root` (in a pipeline: a folder of the
ZenML artifact store, so it survives the pod) and, on the next start, copies
the newest back for `trainer.train(resume_from_checkpoint=...)`. The trainer's
checkpoint holds the optimizer, scheduler and RNG states, so a resumed trial
continues on the same trajectory as an uninterrupted one.

Storage access goes through `fastdistill.infra.durable`'s file-system object
(`LOCAL` here, ZenML's `fileio` for any artifact store in a step), the same
durable work directories teacher shards use.
A checkpoint is uploaded under a temporary name and renamed when complete,
so a crash during upload never leaves a half checkpoint that looks whole.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from transformers import TrainerCallback

from fastdistill.infra.durable import LOCAL, FileSystem

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def trial_key(teacher_identity: dict, row_ids: list[str], student: dict, training: dict) -> str:
    """Everything that shapes a trial's training; the teacher's timings are left out by the caller, since a
    teacher rerun that resumed from its shards has other timings but the same outputs."""
    identity = json.dumps([teacher_identity, row_ids, student, training], sort_keys=True, default=str)
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _copy_tree(src_fs: FileSystem, src: str, dst_fs: FileSystem, dst: str) -> None:
    dst_fs.makedirs(dst)
    for name in src_fs.listdir(src):
        source, target = f"{src}/{name}", f"{dst}/{name}"
        if src_fs.isdir(source):
            _copy_tree(src_fs, source, dst_fs, target)
        else:
            # Crossing file systems (local scratch <-> artifact store) always goes through the remote one's copy.
            (dst_fs if dst_fs is not LOCAL else src_fs).copy(source, target, overwrite=True)


class CheckpointMirror:
    """Keeps the newest `checkpoint-N` of a trial under `root` (one trial per root)."""

    def __init__(self, root: str, fs: FileSystem = LOCAL):
        self.root, self.fs = root.rstrip("/"), fs

    def steps(self) -> list[int]:
        if not self.fs.exists(self.root):
            return []
        found = (_CHECKPOINT.match(str(name).rstrip("/").rsplit("/", 1)[-1]) for name in self.fs.listdir(self.root))
        return sorted(int(m.group(1)) for m in found if m)

    def upload(self, local_checkpoint: Path) -> None:
        name = local_checkpoint.name
        partial = f"{self.root}/partial-{name}"
        if self.fs.exists(partial):  # left by a crash during an earlier upload
            self.fs.rmtree(partial)
        _copy_tree(LOCAL, str(local_checkpoint), self.fs, partial)
        self.fs.rename(partial, f"{self.root}/{name}", overwrite=True)
        for step in self.steps()[:-1]:  # only the newest is needed to resume
            self.fs.rmtree(f"{self.root}/checkpoint-{step}")

    def restore_latest(self, local_dir: Path) -> Path | None:
        """Copy the newest mirrored checkpoint into `local_dir`; None when there is none."""
        steps = self.steps()
        if not steps:
            return None
        target = local_dir / f"checkpoint-{steps[-1]}"
        _copy_tree(self.fs, f"{self.root}/checkpoint-{steps[-1]}", LOCAL, str(target))
        return target

    def clear(self) -> None:
        if self.fs.exists(self.root):
            self.fs.rmtree(self.root)

    def callback(self) -> TrainerCallback:
        return _MirrorOnSave(self)


class _MirrorOnSave(TrainerCallback):
    def __init__(self, mirror: CheckpointMirror):
        self.mirror = mirror

    def on_save(self, args, state, control, **kwargs):
        self.mirror.upload(Path(args.output_dir) / f"checkpoint-{state.global_step}")
