# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.12: use it when this machine has it (also under pyenv), else python3.
PYTHON ?= $(shell for p in $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.12 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help install test lint typecheck run bench validate lock deploy invoke clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt requirements-cli.txt shared/requirements.in pyproject.toml
	@test -n "$(PYTHON)" || { echo "no python3.11+ found"; exit 1; }
	@# pip is quiet (-q) and the first install takes a minute or more: say what is happening first.
	@echo "installing the project and its dependencies into $(VENV) with pip (a minute or two the first time; again only when a requirements file changes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

install: $(STAMP) ## create .venv and install everything a developer needs

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy on the package
	$(BIN)/mypy

test: install ## ruff, mypy and the whole test suite (needs no running services: it finds or starts PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

run: install ## the whole pipeline on this machine (the embedded PostgreSQL, in-process SQS), once; ARGS=--force collects all now
	$(BIN)/charlee-collector local run --exit-zero $(ARGS)

bench: install ## the benchmarks; figures as `name value unit`
	$(BIN)/python bench/run_all.py

validate: install ## the lock is current (and pip-audit), cfn-lint, sam validate, sam build, a smoke test of the built handlers
	bash scripts/validate.sh

# The layer's lock: shared/requirements.in (the ranges) -> shared/requirements.txt (exact versions
# and hashes, resolved by this Python, 3.12 like Lambda's). Pins that still fit their range are
# kept; ARGS=--upgrade takes the newest each range allows.
lock: install ## refresh shared/requirements.txt, the layer's hashed lock, from shared/requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links $(ARGS) --output-file shared/requirements.txt shared/requirements.in
	$(BIN)/python scripts/check_lock.py

deploy: ## sam build + sam deploy --guided with the project's own SAM CLI (.sam-venv, installed if absent)
	bash scripts/deploy.sh $(ARGS)

invoke: install ## run one built function without Docker: make invoke FUNCTION=CollectorFunction EVENT=events/x.json
	$(BIN)/python scripts/invoke.py --function "$(FUNCTION)" --event "$(EVENT)"

clean: ## remove the venv and build output
	rm -rf $(VENV) .sam-venv .aws-sam .pytest_cache .ruff_cache .mypy_cache
