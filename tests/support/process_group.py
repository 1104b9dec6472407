"""A server a test starts in its own process group: wait until it answers, stop it with everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class ProcessGroup:
    """Mixed into a server's dataclass, which holds `proc` (started with start_new_session=True) and `log`."""

    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """End the server and what it started (its own process group, so nothing else is touched)."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def wait_until_answers(self, url: str, name: str, timeout_s: float) -> None:
        """Poll `url` until it answers 2xx; raise with the log's tail if the server exits or the time runs out."""
        import requests

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.proc.returncode}): {self.log.read_text()[-3000:]}")
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{name} did not answer {url} within {timeout_s} s: {self.log.read_text()[-3000:]}")
