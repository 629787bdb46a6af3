#!/usr/bin/env bash
# `make stop`: the Airflow that `make run` started (its whole session) and the private PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
if [[ ! -x "$PY" ]]; then
    PY="$(base_python)"
fi
exec "$PY" -m devenv "${1:-stop}"
