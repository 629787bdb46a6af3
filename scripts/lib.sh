# Sourced by the other scripts: the repo root, the project's .venv, PYTHONPATH.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"
# plugins/: the runtime package prodops; tools/: the development tooling (python -m devenv).
export PYTHONPATH="$REPO_ROOT/plugins:$REPO_ROOT/tools${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "prodops: $*" >&2; }
die() { echo "prodops: error: $*" >&2; exit 1; }

# The interpreter the venv is built from: PRODOPS_PYTHON, else python3.11, else a python3 that is 3.11.
base_python() {
    local cand
    for cand in "${PRODOPS_PYTHON:-}" python3.11 python3; do
        [[ -n "$cand" ]] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    die "no Python 3.11 found (tried \$PRODOPS_PYTHON, python3.11, python3): install Python 3.11 or set PRODOPS_PYTHON to one"
}

# The local packages requirements.txt installs (lines `./path`: the experiments' classifier plugins).
local_requirements() {
    sed -n 's|^\(\./[^ #;]*\).*|\1|p' "$REPO_ROOT/requirements.txt"
}

# What the venv stamp is made of: requirements.txt, constraints.txt and the sources of the local
# packages (installed as copies, not editable): a change to any of them reinstalls on the next
# `make venv` / `make run` / `make test`. Build leftovers and the packages' tests do not count.
requirements_digest() {
    {
        cat "$REPO_ROOT/requirements.txt" "$REPO_ROOT/constraints.txt"
        local_requirements | (cd "$REPO_ROOT" && xargs -r -I{} find {} -type f -not -path '*/build/*' \
            -not -path '*.egg-info/*' -not -path '*/tests/*' -not -path '*/__pycache__/*' -print0 2>/dev/null |
            sort -z | xargs -0 -r sha256sum) || true
    } | sha256sum | cut -d' ' -f1
}

# Create .venv when missing or broken; install the pinned requirements unless the stamp says they are in.
ensure_venv() {
    local start=$SECONDS
    if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        local base
        base="$(base_python)"
        say "creating $VENV with $base"
        rm -rf "$VENV"
        "$base" -m venv "$VENV" || die "could not create $VENV with $base (is its venv module installed?)"
    fi
    local stamp="$VENV/.prodops-requirements.sha256" want
    want="$(requirements_digest)"
    if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
        say "installing requirements.txt (pinned by constraints.txt) into .venv"
        # The machine's pip config names find-links folders that may not exist; pip warns per package.
        # From the repo root: requirements.txt names the local plugin packages by ./paths, which pip
        # reads relative to the current directory.
        (cd "$REPO_ROOT" && "$PY" -m pip install --disable-pip-version-check --quiet \
            -r requirements.txt -c constraints.txt) 2>&1 |
            { grep -v "^WARNING: Location 'file://.*' is ignored" || true; } >&2
        [[ "${PIPESTATUS[0]}" == 0 ]] ||
            die "pip install failed: read its message above; fix requirements.txt/constraints.txt or the network, then rerun"
        echo "$want" >"$stamp"
        say "venv ready in $((SECONDS - start))s"
    fi
}

# The private PostgreSQL needs the server binaries; a fresh root machine can get them from Debian.
ensure_pg_binaries() {
    [[ -z "${PRODOPS_DB_URL:-}" ]] || return 0
    [[ -n "${PRODOPS_PG_BIN:-}" ]] && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        say "PostgreSQL server binaries missing: installing postgresql-15 from Debian"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null ||
            die "apt-get install postgresql-15 failed: install it by hand, or set PRODOPS_DB_URL to an existing server"
    else
        die "PostgreSQL server binaries not found: apt-get install postgresql-15, or set PRODOPS_DB_URL to an existing server"
    fi
}
