#!/usr/bin/env bash
# `make test`: from nothing (venv, install, PostgreSQL) to the whole pytest suite; exits with pytest's code.
# Arguments go to pytest, e.g. scripts/test.sh -m "not e2e" tests/unit
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
ensure_venv
"$VENV/bin/ruff" check --quiet . || die "ruff found the problems above (make lint); fix them first"
"$VENV/bin/mypy" || die "mypy found the type errors above (make lint, mypy.ini); fix them first"
ensure_pg_binaries
bash "$REPO_ROOT/scripts/install-browser.sh"  # Chromium for the board's browser test

# Under CI (a fresh clone) the private PostgreSQL this run started is stopped at the end; on a
# developer's checkout it stays up for the next run and for others' tests (`make stop` stops it).
started_pg=0
if [[ "${CI:-}" == true && -z "${PRODOPS_DB_URL:-}" ]] && ! "$PY" -m devenv pg-status >/dev/null; then
    started_pg=1
fi
stop_pg() {
    if [[ "$started_pg" == 1 ]]; then
        "$PY" -m devenv pg-stop || say "could not stop the private PostgreSQL: run make stop"
    fi
}
trap stop_pg EXIT

PRODOPS_PG_URL="$("$PY" -m devenv pg-start)" || die "PostgreSQL did not start (message above)"
export PRODOPS_PG_URL
say "test databases are created on $PRODOPS_PG_URL"

rc=0
"$PY" -m pytest "$@" || rc=$?
exit "$rc"
