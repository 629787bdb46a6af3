"""The embedded development stack: a private PostgreSQL and an Airflow standalone.

One place used by ``make run``, ``make test``, ``make stop``, the benches and the test
fixtures, so the demo, CI and the tests start the same stack the same way. It lives outside
plugins/ because it is development tooling: no runtime module of prodops imports it
(tests/unit/tools/test_devenv.py checks that).

- :mod:`devenv.processes`: ports, process sessions, the error and log line every part uses;
- :mod:`devenv.postgres`: the private PostgreSQL, URLs, databases, the prodops schema;
- :mod:`devenv.airflow_stack`: Airflow's environment, start, output, health, the ``make run`` stack;
- :mod:`devenv.celery_stack`: the CeleryExecutor topology (Redis, every component its own process,
  two workers) of the multi-host deployment, for its e2e test and bench;
- :mod:`devenv.cli`: the command line.

Only the standard library is imported at module level (``make stop`` runs it without the
venv); psycopg is imported where a database is created or dropped.

Command line, from the repo root with ``tools/`` and ``plugins/`` on PYTHONPATH (scripts/lib.sh)::

    python -m devenv run        # PostgreSQL + schema + airflow standalone, foreground
    python -m devenv stop       # stop that Airflow (whole session) and the private PostgreSQL
    python -m devenv pg-start   # start the private PostgreSQL; prints the server URL
    python -m devenv pg-stop
    python -m devenv pg-status  # exit 0 and the port when running, 3 when not
    python -m devenv env        # `export ...` lines for a shell that runs airflow CLI commands
"""

from devenv.airflow_stack import (
    ADMIN_USER,
    OPERATOR_USER,
    DevStack,
    OutputPump,
    admin_password,
    airflow_env,
    dev_stack,
    health_line,
    migrate_airflow,
    start_airflow,
    user_password,
    wait_for_api,
    watch_health,
)
from devenv.postgres import (
    PrivatePostgres,
    database_name,
    drop_database,
    ensure_database,
    libpq_url,
    migrate_prodops,
    server_url,
    sqlalchemy_url,
    with_database,
)
from devenv.processes import REPO_ROOT, DevEnvError, free_port, port_in_use, pythonpath, session_members, stop_session

__all__ = [
    "ADMIN_USER",
    "OPERATOR_USER",
    "REPO_ROOT",
    "DevEnvError",
    "DevStack",
    "OutputPump",
    "PrivatePostgres",
    "admin_password",
    "user_password",
    "airflow_env",
    "database_name",
    "dev_stack",
    "drop_database",
    "ensure_database",
    "free_port",
    "health_line",
    "libpq_url",
    "migrate_airflow",
    "migrate_prodops",
    "port_in_use",
    "pythonpath",
    "server_url",
    "session_members",
    "sqlalchemy_url",
    "start_airflow",
    "stop_session",
    "wait_for_api",
    "watch_health",
    "with_database",
]
