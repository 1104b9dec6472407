"""Durable work directories: unfinished work kept under the active ZenML artifact store, so a new pod resumes it.

A pod's disk dies with the pod (a preempted spot node, an evicted Job); the
artifact store (a local folder on a laptop, S3 or GCS on a cluster) does not.
Work that is expensive to redo (trial checkpoints, teacher shards) lives in
`<artifact store>/fastdistill/<kind>/<key>`, where the key names everything
that shapes the work, so a rerun finds exactly its own.

Storage access goes through a small file-system object with the names of
`zenml.io.fileio` (which dispatches to the artifact store's own file system,
s3fs or gcsfs on a cluster): `LOCAL` for plain folders, `fileio` for the store.
"""

from __future__ import annotations

import builtins
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import IO, Any, Protocol


class FileSystem(Protocol):
    def open(self, path: str, mode: str = "r") -> IO[Any]: ...
    def exists(self, path: str) -> bool: ...
    def isdir(self, path: str) -> bool: ...
    def listdir(self, path: str) -> list[str]: ...
    def makedirs(self, path: str) -> None: ...
    def copy(self, src: str, dst: str, overwrite: bool = False) -> None: ...
    def rename(self, src: str, dst: str, overwrite: bool = False) -> None: ...
    def remove(self, path: str) -> None: ...
    def rmtree(self, path: str) -> None: ...


class LocalFileSystem:
    open = staticmethod(builtins.open)
    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    remove = staticmethod(os.remove)

    @staticmethod
    def makedirs(path: str) -> None:
        os.makedirs(path, exist_ok=True)

    @staticmethod
    def copy(src: str, dst: str, overwrite: bool = False) -> None:
        shutil.copyfile(src, dst)

    @staticmethod
    def rename(src: str, dst: str, overwrite: bool = False) -> None:
        os.replace(src, dst)

    @staticmethod
    def rmtree(path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)


LOCAL = LocalFileSystem()


@dataclass(frozen=True)
class DurableDir:
    """A folder on `fs` whose files each appear whole: written under a temporary name, then renamed."""

    root: str
    fs: FileSystem = LOCAL

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def exists(self, name: str) -> bool:
        return self.fs.exists(self.path(name))

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open(self.path(name), "rb") as f:
            return f.read()

    def write_bytes(self, name: str, data: bytes) -> None:
        """A reader sees the old file or the new one, never a part: a crash leaves only a hidden temp file."""
        self.fs.makedirs(self.root)
        tmp = self.path(f".{name}.tmp-{uuid.uuid4().hex[:12]}")
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.rename(tmp, self.path(name), overwrite=True)

    def clear(self) -> None:
        if self.fs.exists(self.root):
            self.fs.rmtree(self.root)


def artifact_store_dir(kind: str, key: str) -> DurableDir:
    """`<active artifact store>/fastdistill/<kind>/<key>`, accessed through ZenML's file API."""
    from zenml.client import Client
    from zenml.io import fileio

    return DurableDir(f"{Client().active_stack.artifact_store.path.rstrip('/')}/fastdistill/{kind}/{key}", fileio)
