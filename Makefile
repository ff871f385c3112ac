# Handoff: every target installs what it needs on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@echo "uv not found: bootstrapping it with pip"
	python3 -m pip install --user --quiet uv

# Develop and test on Lambda's Python (python3.13) where this machine has one: what uv finds, else a
# pyenv install (not on uv's search path). Elsewhere uv picks any Python >= 3.11 and the project still works.
PY313 := $(shell $(UV) python find --no-python-downloads 3.13 2>/dev/null || \
	ls -1 $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1)

$(STAMP): pyproject.toml uv.lock Makefile | $(UV)
	@$(UV) sync --frozen -q $(if $(PY313),--python $(PY313),)
	@echo "installed: .venv with $$($(UV) pip list -q --python $(PY) 2>/dev/null | tail -n +3 | wc -l | tr -d ' ') packages from uv.lock (handoff: $(VENV)/bin/handoff)"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv from the lock file

demo: $(STAMP) ## Run every sample DialNexa call through the embedded stack
	$(VENV)/bin/handoff demo

PORT ?= 3000
AWS_PORT ?= 3001
dev: $(STAMP) ## Run the embedded stack until Ctrl-C (make dev PORT=3000 AWS_PORT=3001)
	@$(VENV)/bin/handoff dev --port $(PORT) --aws-port $(AWS_PORT)

test: $(STAMP) lint ## Lint, type-check and run the whole test suite
	$(VENV)/bin/pytest

lint: $(STAMP) ## ruff, mypy, and the template checks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy layers/handoff/handoff tools/handoff_dev
	@# every handler is app.py: type-check each on its own so the module names do not clash
	@for f in functions/*/app.py; do $(VENV)/bin/mypy $$f || exit 1; done
	$(VENV)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

build: $(STAMP) layers/handoff/requirements.txt ## sam build without Docker (makefile build method, arm64 wheels)
	$(VENV)/bin/sam build --template template.yaml

check: $(STAMP) layers/handoff/requirements.txt ## Static checks: cfn-lint, checkov, bandit, pip-audit, sam build
	$(VENV)/bin/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	BC_SKIP_MAPPING=TRUE $(VENV)/bin/checkov --skip-download --config-file .checkov.yaml -f template.yaml
	@# Fails on medium and high findings; the low ones are the dev-only fake secrets of the sandboxes.
	$(VENV)/bin/bandit -q -ll --ini .bandit -r layers/handoff/handoff functions tools
	@# Audits the deployed dependencies. Where PyPI's per-release JSON API is not reachable (this
	@# workplace's package proxy), pip-audit can look nothing up and says so per package; it still
	@# fails on any vulnerability it does find.
	$(VENV)/bin/pip-audit --disable-pip --no-deps -r layers/handoff/requirements.txt
	@# Plain `sam build` as a SAM user types it: no uv on PATH (the layer finds the one in .venv).
	env -u UV PATH=/usr/bin:/bin $(VENV)/bin/sam build --template template.yaml

bench: $(STAMP) build ## Figures: cold start, warm cost, throughput, artifact size, cost per call (benchmarks/results.json)
	$(VENV)/bin/python benchmarks/run.py

stress: $(STAMP) ## Pass/fail reliability suites on loopback: duplicate storm, partner faults, crash windows, fuzz, leaks
	$(VENV)/bin/pytest -c stress/pytest.ini stress
	$(VENV)/bin/pytest -m timed tests

.PHONY: help install demo dev test lint build check bench stress

# dnspython stays out: email-validator imports it only for deliverability checks (DNS look-ups), which
# Handoff never asks for (check_deliverability=False in match/normalise.py); 2.7 MB of the layer.
# python-dateutil and six stay out with botocore, the only package that needs them at run time (besides
# Powertools' feature flags, which Handoff does not use and the layer leaves out): the runtime's botocore
# comes with its own. 0.3 MB of the zipped layer.
layers/handoff/requirements.txt: uv.lock Makefile ## Layer requirements from the lock (boto3 comes with the Lambda runtime)
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --no-header -q \
		--no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer \
		--no-emit-package python-dateutil --no-emit-package six \
		--no-emit-package dnspython \
		-o $@
