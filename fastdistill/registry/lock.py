"""The registry-wide promotion lock: a registered model named `<name>.promotion-lock`, with its owner and a lease.

MLflow has no compare-and-set for aliases, but creating a registered model
that already exists fails atomically in every store (a unique name in the
database), on a remote server as on a local file. The holder deletes it when
done, and only if it is still its own.

A holder can die without deleting it (SIGKILL, a lost node), so the lock
says who holds it: host, pid and the process's start time (a pid alone is
reused), and for how long it may (`lease_s`). A waiter on the same host
checks the owner at once: a dead owner's lock is reclaimed without waiting.
An owner on another host cannot be checked, so its lock is reclaimed when
the lease has run out, measured from the store's own creation timestamp. A
waiter says who holds the lock, once, and names the holder when it gives up.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Self

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from fastdistill.infra.processes import process_started, still_running

LOCK_SUFFIX = ".promotion-lock"

log = logging.getLogger(__name__)


class LockHeld(TimeoutError):
    """The lock stayed held by a live owner for the whole wait; the message names the owner."""


def owner_tags(token: str, lease_s: float) -> dict[str, str]:
    """This process as a lock owner: who (host, pid, start time) and how long it may hold the lock."""
    return {"owner": token, "owner.host": socket.gethostname(), "owner.pid": str(os.getpid()),
            "owner.started": repr(process_started(os.getpid())), "lease_s": str(lease_s)}


def owner_alive(tags: dict[str, str]) -> bool | None:
    """Whether the owner process still runs: checked by pid and start time on this host; None on another host."""
    if tags.get("owner.host") != socket.gethostname() or not tags.get("owner.pid", "").isdigit():
        return None
    try:
        recorded = float(tags.get("owner.started", ""))
    except ValueError:  # "None": psutil could not tell when the owner started
        recorded = None
    return still_running(int(tags["owner.pid"]), recorded)


def describe_owner(tags: dict[str, str], created_ms: int | None) -> str:
    since = datetime.fromtimestamp((created_ms or 0) / 1000, UTC).isoformat(timespec="seconds")
    return (f"{tags.get('owner.host', '?')} pid {tags.get('owner.pid', '?')} since {since} "
            f"(lease {tags.get('lease_s', '?')} s)")


class PromotionLock:
    """A registry-wide mutex for alias changes (see the module docstring)."""

    def __init__(self, client: MlflowClient, name: str, timeout_s: float = 120.0, lease_s: float = 300.0,
                 notify: Callable[[str], None] = log.warning):
        self.client, self.lock_name = client, name + LOCK_SUFFIX
        self.timeout_s, self.lease_s, self.notify = timeout_s, lease_s, notify
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        self._told = False

    def __enter__(self) -> Self:
        deadline = time.monotonic() + self.timeout_s
        while not self._try_create():
            holder = self._reclaim_if_abandoned()
            if time.monotonic() > deadline:
                raise LockHeld(f"the promotion lock {self.lock_name} is held by {holder or 'another promotion'}; "
                               f"waited {self.timeout_s:.0f} s; run again when it is released")
            if holder and not self._told:
                self.notify(f"waiting for the promotion lock {self.lock_name}, held by {holder}")
                self._told = True
            time.sleep(random.uniform(0.05, 0.25))  # jitter: racing waiters do not retry in lockstep
        return self

    def _try_create(self) -> bool:
        try:
            self.client.create_registered_model(
                self.lock_name, tags=owner_tags(self.token, self.lease_s),
                description="Held while FastDistill moves aliases; deleted when done. Tags name the owner.")
            return True
        except MlflowException as err:
            busy = "database is locked" in str(err)  # SQLite under concurrent writers: try again
            if not busy and err.error_code not in ("RESOURCE_ALREADY_EXISTS", "TEMPORARILY_UNAVAILABLE"):
                raise
            return False

    def _reclaim_if_abandoned(self) -> str | None:
        """Delete the lock if its owner is dead or its lease ran out; return its holder while it is held."""
        try:
            held = self.client.get_registered_model(self.lock_name)
        except MlflowException:
            return None  # released meanwhile
        tags, holder = dict(held.tags), describe_owner(held.tags, held.creation_timestamp)
        alive = owner_alive(tags)
        lease = float(tags.get("lease_s") or self.lease_s)
        expired = held.creation_timestamp and time.time() - held.creation_timestamp / 1000 > lease
        if alive is False or (alive is None and expired):
            why = "its owner is no longer running" if alive is False else f"its lease of {lease:.0f} s ran out"
            log.warning("reclaiming the promotion lock %s held by %s: %s", self.lock_name, holder, why)
            self._delete_if_owner(tags.get("owner"))
            return None
        return holder

    def _delete_if_owner(self, owner: str | None) -> None:
        """Delete the lock only if `owner` still holds it: another waiter may have reclaimed and re-taken it."""
        try:
            if self.client.get_registered_model(self.lock_name).tags.get("owner") == owner:
                self.client.delete_registered_model(self.lock_name)
        except MlflowException:
            pass  # gone already

    def __exit__(self, *exc) -> None:
        try:
            owner = self.client.get_registered_model(self.lock_name).tags.get("owner")
            if owner == self.token:
                self.client.delete_registered_model(self.lock_name)
            else:
                log.warning("promotion lock %s was reclaimed while held (now held by %s)", self.lock_name, owner)
        except MlflowException as err:
            log.warning("could not release promotion lock %s: %s", self.lock_name, err)
