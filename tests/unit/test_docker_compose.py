"""docker-compose.yaml's structure, since no Docker engine runs it here: every Airflow service sees
the shared job directory, the shared logs and the HTCondor configuration and token; images and
providers are pinned; secrets come only from the environment; the init service prepares it all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())  # merge keys (<<) resolved as Compose resolves them
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = sorted(name for name, svc in SERVICES.items() if svc.get("image", "").startswith("${PRODOPS_IMAGE"))
CHECKED = ("airflow-triggerer", "airflow-worker")
JOB_DIR, LOGS, CONDOR, TOKENS = (
    "/opt/airflow/prodops-home",
    "/opt/airflow/logs",
    "/etc/condor",
    "/etc/prodops/htcondor-tokens",
)
SECRET_KEYS = re.compile(r"FERNET_KEY|SECRET|PASSWORD|JWT")


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#;]+)", line)
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def mounts(service: dict) -> dict[str, dict]:
    """target -> {source, read_only} for the short and the long volume syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found[target] = {"source": source, "read_only": mode == ["ro"], "type": "short"}
        else:
            found[volume["target"]] = {**volume, "read_only": volume.get("read_only", False)}
    return found


def test_the_airflow_services_are_all_there():
    assert AIRFLOW_SERVICES == sorted(
        [
            "airflow-apiserver",
            "airflow-scheduler",
            "airflow-dag-processor",
            "airflow-triggerer",
            "airflow-worker",
            "airflow-init",
            "airflow-cli",
        ]
    )


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_every_airflow_service_sees_the_shared_job_directory_logs_and_htcondor_files(name):
    service, found = SERVICES[name], mounts(SERVICES[name])
    for target in (JOB_DIR, LOGS):  # bind mounts of one shared filesystem, never a per-host named volume
        assert found[target]["type"] == "bind" and found[target]["source"].startswith("${PRODOPS_SHARED_DIR"), name
        assert not found[target]["read_only"], name
    assert found[CONDOR]["source"].startswith("${HTCONDOR_CONFIG_DIR") and found[CONDOR]["read_only"], name
    assert found[TOKENS]["source"].startswith("${HTCONDOR_TOKEN_DIR") and found[TOKENS]["read_only"], name
    env = service["environment"]
    assert env["PRODOPS_HOME"] == JOB_DIR and env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == LOGS, name
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and env["CONDOR_CONFIG"].startswith(CONDOR + "/"), name
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name


def test_no_named_volume_stands_in_for_a_shared_directory():
    assert set(COMPOSE.get("volumes") or {}) == {"postgres-db-volume"}


def test_the_htcondor_client_config_reads_tokens_from_the_mounted_directory():
    config = (REPO_ROOT / "deploy" / "htcondor" / "condor_config").read_text()
    assert re.search(rf"^SEC_TOKEN_DIRECTORY = {re.escape(TOKENS)}$", config, re.MULTILINE)
    assert SERVICES["airflow-worker"]["environment"]["CONDOR_CONFIG"] == f"{CONDOR}/condor_config"


@pytest.mark.parametrize("name", CHECKED)
def test_the_triggerer_and_workers_start_behind_the_job_directory_check(name):
    entrypoint = SERVICES[name]["entrypoint"]
    assert entrypoint[:2] == ["/usr/bin/dumb-init", "--"]  # the image's own init and entrypoint, after the check
    assert entrypoint[2:] == ["python", "-m", "prodops.jobdir", "run", "--", "/entrypoint"]


def test_images_are_pinned_and_the_airflow_image_matches_the_pinned_airflow():
    requirements, constraints = pins(REPO_ROOT / "requirements.txt"), pins(REPO_ROOT / "constraints.txt")
    for name, service in SERVICES.items():
        image = service["image"].split(":-", 1)[-1].rstrip("}")
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {service['image']} has no pinned tag"
    build = SERVICES["airflow-worker"]["build"]["dockerfile_inline"]
    airflow = requirements["apache-airflow"]
    assert re.search(rf"^FROM apache/airflow:{re.escape(airflow)}-python3\.11$", build, re.MULTILINE)
    assert f'"apache-airflow=={airflow}"' in build and "-r requirements.txt -c constraints.txt" in build
    for provider in ("apache-airflow-providers-celery", "celery"):
        assert requirements[provider] == constraints[provider], provider


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_secrets_come_only_from_the_environment_and_have_no_default():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEYS.search(key) and not key.endswith("_FILE"):  # a file's path is no secret
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}: {key} is not a required variable"
    for text in _strings(COMPOSE):  # a password inside a URL: a required variable too
        for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", text):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", password), (
                f"a password in {text!r} is not a required variable"
            )


def test_every_variable_the_file_uses_is_described_at_its_top():
    text = COMPOSE_FILE.read_text()
    header = text[: text.index("\n---\n")]
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", text))
    assert used and {name for name in used if name not in header} == set()


def test_the_init_service_prepares_schemas_connections_and_the_job_directory():
    init = SERVICES["airflow-init"]
    script = init["command"][0]
    steps = [
        "airflow db migrate",
        "python -m prodops.store.migrate",
        "airflow connections import",
        "python -m prodops.jobdir init",
    ]
    assert [script.index(step) for step in steps] == sorted(script.index(step) for step in steps)
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    ):
        assert SERVICES[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}


def test_the_init_service_writes_an_htcondor_connection_with_the_token_directory_and_no_secret(tmp_path):
    script = SERVICES["airflow-init"]["command"][0]
    program = script[script.index("<<'EOF'\n") + len("<<'EOF'\n") : script.index("\nEOF\n")]
    env = {**os.environ, "HTCONDOR_COLLECTOR": "cm.example.org:9619", "HTCONDOR_SCHEDD": "submit01.example.org"}
    out = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    conn = json.loads(out.stdout)["htcondor_default"]
    assert (conn["conn_type"], conn["host"], conn["port"]) == ("htcondor", "cm.example.org", 9619)
    assert json.loads(conn["extra"]) == {"token_dir": TOKENS, "timeout_s": 30, "schedd": "submit01.example.org"}
    assert "password" not in conn
    bare = subprocess.run(
        [sys.executable, "-c", program],
        env={**env, "HTCONDOR_COLLECTOR": "", "HTCONDOR_SCHEDD": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(json.loads(bare.stdout)["htcondor_default"]["extra"]) == {"token_dir": TOKENS, "timeout_s": 30}
