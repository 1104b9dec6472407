"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a free loopback port.

It runs from .venv-llama-server, which `scripts/setup.sh --with-llama-server` builds (`make test` passes it):
llama-cpp-python compiles llama.cpp from source, and its server's fastapi/uvicorn pins stay out of .venv.
The server is a process group of its own, stopped with everything it started.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import free_port
from tests.support.process_group import ProcessGroup

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-llama-server" / "bin" / "python"
START_TIMEOUT_S = 180  # imports fastapi and llama_cpp, then loads the GGUF, on a busy 2-core machine
MODEL_ALIAS = "smollm2"


@dataclass
class LlamaServer(ProcessGroup):
    url: str  # the OpenAI base URL, .../v1
    proc: subprocess.Popen
    log: Path


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
        server.wait_until_answers(server.url + "/models", "llama_cpp.server", START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server
