#!/usr/bin/env bash
# `make run`: venv, private PostgreSQL, schemas, then airflow standalone in the foreground.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_venv
ensure_pg_binaries
exec "$PY" -m devenv run
