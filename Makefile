# The two commands of the README: `make run` (the quickstart) and `make test` (the suite).
.PHONY: setup run test

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python run.py

test:
	@bash scripts/setup.sh --with-checkov
	.venv/bin/python -m pytest -q
