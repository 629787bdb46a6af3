#!/usr/bin/env bash
# The airflow CLI with the `make run` environment, e.g. scripts/airflow.sh dags trigger production_request
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
[[ -x "$PY" ]] || die "$VENV does not exist yet: run make run (or make venv) first"
eval "$("$PY" -m devenv env)"
exec airflow "$@"
