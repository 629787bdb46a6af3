#!/usr/bin/env bash
# Load check of the service board's push API (bench/push_api.py): venv, PostgreSQL, then the bench.
# Arguments go to the bench, e.g. scripts/bench.sh --seconds 30 --clients 8
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_venv
ensure_pg_binaries
PRODOPS_PG_URL="$("$PY" -m devenv pg-start)" || die "PostgreSQL did not start (message above)"
export PRODOPS_PG_URL
exec "$PY" bench/push_api.py "$@"
