# uvqc - every target creates the virtual environment it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAGE ?= lab
REGION ?= eu-west-1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test lint typecheck package deploy remove bench clean

$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8

$(VENV)/.synced: $(BIN)/uv pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## demo: run the embedded pipeline on examples/ (SQLite queues, e-mails to var/outbox)
demo: $(VENV)/.synced
	rm -rf var/demo && mkdir -p var/demo
	$(BIN)/uvqc run examples/day-2026-11-27.jsonl examples/single-original.json --db var/demo/uvqc.db --outbox var/demo/outbox
	@echo
	@echo "== An analytical run (examples/runs/, method examples/methods/nitrate-run.toml)"
	UVQC_METHOD=examples/methods/nitrate-run.toml $(BIN)/uvqc run examples/runs/nitrate-run-2026-11-28.jsonl --db var/demo/uvqc.db --outbox var/demo/outbox
	$(BIN)/uvqc runs list --db var/demo/uvqc.db
	$(BIN)/uvqc runs show NO3-2026-11-28-A --db var/demo/uvqc.db
	@echo "== The re-measurement e-mail:"
	@f=$$(grep -l "X-UVQC-Run-Decision: check_standard_failed" var/demo/outbox/*.eml); tr -d '\r' < $$f | sed -n '/^Subject/p;/^$$/,$$p'
	@echo
	@echo "== The run digest e-mail (text part; HTML, inline PNG figures and the report attached):"
	@f=$$(grep -l "^X-UVQC-Batch-Id: NO3-2026-11-28-A" var/demo/outbox/*.eml | xargs grep -L "X-UVQC-Run-Decision" | head -1); echo "  $$f"; grep -m1 "^Subject" $$f
	@echo
	@echo "E-mails: var/demo/outbox/*.eml ($$(ls var/demo/outbox | wc -l) files). Next, try:"
	@echo "  .venv/bin/uvqc trace 959575fe-0a73-4d03-b43a-2c9fbed3e91c --db var/demo/uvqc.db"
	@echo "  .venv/bin/uvqc check examples/day-2026-11-27.jsonl"
	@echo "  .venv/bin/uvqc dlq list --db var/demo/uvqc.db"
	@echo "  .venv/bin/uvqc charts --db var/demo/uvqc.db"
	@echo
	@echo "== The demo run's report (open it in a browser):"
	$(BIN)/uvqc report NO3-2026-11-28-A --db var/demo/uvqc.db --out var/demo/report-NO3-2026-11-28-A.html

## test: lint, type-check and run every test with coverage
test: $(VENV)/.synced node_modules/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --cov --cov-report=term --cov-report=xml

lint: $(VENV)/.synced
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.synced
	$(BIN)/mypy

## package: build the arm64 Lambda artifact and the CloudFormation template (offline)
package: $(VENV)/.synced node_modules/.installed
	$(BIN)/python -m uvqc.aws.build --out build/lambda
	npx osls package --stage $(STAGE) --region $(REGION)

## deploy: package and deploy to AWS (needs credentials)
deploy: package
	npx osls deploy --stage $(STAGE) --region $(REGION) --package .serverless

remove:
	npx osls remove --stage $(STAGE) --region $(REGION)

## bench: regenerate docs/PERFORMANCE.md and docs/RELIABILITY.md
bench: $(VENV)/.synced node_modules/.installed
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) node_modules build .serverless var .coverage* coverage.xml
