"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a free loopback port.

It runs from .venv-llama-server, which `scripts/setup.sh --with-llama-server` builds (`make test` passes it):
llama-cpp-python compiles llama.cpp from source, and its server's fastapi/uvicorn pins stay out of .venv.
The server is a process group of its own, stopped with everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-llama-server" / "bin" / "python"
START_TIMEOUT_S = 180  # imports fastapi and llama_cpp, then loads the GGUF, on a busy 2-core machine
MODEL_ALIAS = "smollm2"


@dataclass
class LlamaServer:
    url: str  # the OpenAI base URL, .../v1
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def start_server(gguf: Path, tmp: Path) -> LlamaServer:
    """The server on `gguf`, named `MODEL_ALIAS`, once it answers /v1/models; its log is `tmp/llama-server.log`."""
    port = free_port()
    log = tmp / "llama-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(PYTHON), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", proc, log)
    try:
        _wait_until_serving(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_serving(server: LlamaServer) -> None:
    import requests

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({server.proc.returncode}): {server.log.read_text()[-3000:]}")
        try:
            if requests.get(server.url + "/models", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {START_TIMEOUT_S} s: "
                       f"{server.log.read_text()[-3000:]}")
