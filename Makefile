# The two commands of the README: `make run` (the quickstart) and `make test` (the suite).
.PHONY: setup run test

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python run.py

# Two pytest-xdist workers, one test file each at a time (module fixtures such as an e2e run are built once),
# in collection order so the long e2e files start first: the suite is mostly subprocesses and Python overhead,
# and runs in 7 min 44 s instead of 14 min 22 s on a 2-core machine.
test:
	@bash scripts/setup.sh --with-checkov --with-kfp --with-llama-server
	.venv/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=10
