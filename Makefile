# The two commands of the README: `make run` (the quickstart) and `make test` (the suite).
.PHONY: setup run test

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python run.py

# Two pytest-xdist workers, one test file each at a time (module fixtures such as an e2e run are built once):
# the suite is mostly subprocesses and Python overhead, so it runs 1.7x faster on a 2-core machine.
test:
	@bash scripts/setup.sh --with-checkov
	.venv/bin/python -m pytest -q -n 2 --dist loadfile --durations=10
