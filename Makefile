# The two README commands and their helpers; the work is in scripts/ and tools/devenv (python -m devenv).
.PHONY: run stop test lint pg-start pg-stop venv bench-tracking bench-triage bench-board bench-accounting bench-celery eval-triage

PYTEST_ARGS ?=
BENCH_ARGS ?=
EVAL_ARGS ?=

run:  ## create .venv, start PostgreSQL and Airflow (foreground; Ctrl-C stops everything)
	@bash scripts/run.sh

stop:  ## stop the Airflow of `make run` and the private PostgreSQL
	@bash scripts/stop.sh

test:  ## the whole test suite from nothing; PYTEST_ARGS='-m "not e2e"' narrows it
	@bash scripts/test.sh $(PYTEST_ARGS)

lint:  ## ruff (pyflakes + bugbear, ruff.toml) and mypy (mypy.ini); make test runs it first
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; "$$VENV/bin/ruff" check .; \
		"$$VENV/bin/mypy" || die "mypy found the type errors above (mypy.ini); fix them first"'

venv:  ## create/refresh .venv only
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv'

pg-start:  ## start the private PostgreSQL, print its URL
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; "$$PY" -m devenv pg-start'

pg-stop:  ## stop the private PostgreSQL only
	@bash scripts/stop.sh pg-stop

bench-tracking:  ## tracking one 20,000-job submission vs raw COPY and per-job writes; BENCH_ARGS='--jobs 5000'
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; \
		export PRODOPS_PG_URL="$$("$$PY" -m devenv pg-start)"; "$$PY" bench/tracking.py $(BENCH_ARGS)'

bench-triage:  ## triage of 20,000 failed attempts with the whole knowledge library; BENCH_ARGS='--jobs 5000'
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; \
		export PRODOPS_PG_URL="$$("$$PY" -m devenv pg-start)"; "$$PY" bench/triage.py $(BENCH_ARGS)'

bench-board:  ## the service board at 10k-5M status events: reads over derived rows, ingest with derived writes; BENCH_ARGS='--sizes 10000,100000'
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; \
		export PRODOPS_PG_URL="$$("$$PY" -m devenv pg-start)"; "$$PY" bench/board.py $(BENCH_ARGS)'

bench-accounting:  ## accounting over 5M synthetic attempts: incremental run over the newest 100k, stats page p95; BENCH_ARGS='--attempts 500000'
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; \
		export PRODOPS_PG_URL="$$("$$PY" -m devenv pg-start)"; "$$PY" bench/accounting.py $(BENCH_ARGS)'

bench-celery:  ## status events/s through two api-server workers while the Celery stack (Redis, two workers) runs a request; BENCH_ARGS='--seconds 30'
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; ensure_pg_binaries; \
		export PRODOPS_PG_URL="$$("$$PY" -m devenv pg-start)"; "$$PY" bench/celery_ingest.py $(BENCH_ARGS)'

eval-triage:  ## triage accuracy on the real public corpus (tests/fixtures/triage/real), train and test apart
	@bash -c 'set -euo pipefail; source scripts/lib.sh; ensure_venv; PYTHONPATH=plugins "$$PY" -m prodops.triage.corpus eval $(EVAL_ARGS)'
