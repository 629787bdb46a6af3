"""The HTCondor connection: pool settings from Airflow connections, errors naming the field, knobs applied."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import htcondor2
import pytest
from airflow.sdk import Connection

from prodops.batch.htcondor import HTCondorBackend
from prodops.hooks.htcondor import HTCondorHook, PoolConfigError, PoolSettings, apply_settings

URI = "htcondor://cm.example.org:9618?schedd=submit01.example.org&timeout_s=30"


def conn(**fields) -> Connection:
    return Connection(conn_id=fields.pop("conn_id", "htcondor_test"), **fields)


def test_htcondor_uri_gives_collector_schedd_and_deadline():
    settings = PoolSettings.from_connection(Connection.from_uri(URI, conn_id="htcondor_default"))
    assert settings.collector == "cm.example.org:9618" and settings.schedd_name == "submit01.example.org"
    assert settings.timeout_s == 30.0 and settings.schedd_address is None
    assert settings.where == "schedd submit01.example.org (collector cm.example.org:9618)"
    knobs = settings.knobs()
    assert knobs["Q_QUERY_TIMEOUT"] == "30" and knobs["QUERY_TIMEOUT"] == "30"
    assert "SEC_TOKEN_DIRECTORY" not in knobs


def test_generic_connection_with_json_extra(tmp_path):
    tokens = tmp_path / "tokens.d"
    tokens.mkdir()
    extra = {"schedd_address": "<10.0.0.5:9618?addrs=10.0.0.5-9618>", "token_dir": str(tokens),
             "config": {"SEC_CLIENT_AUTHENTICATION_METHODS": "IDTOKENS"}}
    settings = PoolSettings.from_connection(conn(conn_type="generic", extra=json.dumps(extra)))
    assert settings.collector is None and settings.where == "schedd at <10.0.0.5:9618?addrs=10.0.0.5-9618>"
    knobs = settings.knobs()
    assert knobs["SEC_TOKEN_DIRECTORY"] == str(tokens)
    assert knobs["SEC_CLIENT_AUTHENTICATION_METHODS"] == "IDTOKENS"
    assert settings.timeout_s == 60.0


def test_no_host_means_this_machines_condor_config():
    settings = PoolSettings.from_connection(conn(conn_type="htcondor"))
    assert settings.collector is None and settings.schedd_name is None
    assert settings.where == "the local schedd (collector from condor_config)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "cm.example.org"}, "extra.schedd is missing; with a remote collector"),
        ({"host": "cm", "extra": '{"schedd": "s", "timeout_s": "soon"}'}, "extra.timeout_s = 'soon'"),
        ({"host": "cm", "extra": '{"schedd": "s", "timeout_s": 0}'}, "extra.timeout_s = 0"),
        ({"extra": '{"schedd_address": "10.0.0.5:9618"}'}, "is not a sinful string"),
        ({"extra": '{"token_dir": "/nonexistent/tokens.d"}'}, "extra.token_dir = '/nonexistent/tokens.d' is not a directory"),
        ({"extra": '{"token_file": "/nonexistent/token"}'}, "is not a file"),
        ({"extra": '{"shedd": "typo"}'}, "extra keys ['shedd'] are unknown"),
        ({"extra": '{"config": ["X"]}'}, "extra.config"),
        ({"extra": "{not json"}, "extra is not JSON"),
    ],
)
def test_bad_connection_names_the_field_and_the_fix(fields, message):
    with pytest.raises(PoolConfigError, match="HTCondor connection 'htcondor_test'") as err:
        PoolSettings.from_connection(conn(conn_type="htcondor", **fields))
    assert message in str(err.value)


def test_token_by_value_and_token_file_go_to_a_private_token_directory(tmp_path):
    token_file = tmp_path / "prodops.token"
    token_file.write_text("eyJhbGciOiJIUzI1NiJ9.file.token\n")
    settings = PoolSettings.from_connection(
        conn(conn_type="htcondor", conn_id="htcondor_tokens", password="eyJhbGciOiJIUzI1NiJ9.secret.token",
             extra=json.dumps({"token_file": str(token_file)}))
    )
    assert "secret" not in repr(settings)
    directory = Path(settings.knobs()["SEC_TOKEN_DIRECTORY"])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    by_value = directory / "from_connection"
    assert by_value.read_text().strip() == "eyJhbGciOiJIUzI1NiJ9.secret.token"
    assert stat.S_IMODE(by_value.stat().st_mode) == 0o600
    assert os.readlink(directory / "from_file") == str(token_file)


def test_apply_settings_sets_the_bindings_configuration():
    settings = PoolSettings(timeout_s=17, config={"PRODOPS_TEST_KNOB": "yes"}, conn_id="htcondor_apply")
    apply_settings(settings)
    assert str(htcondor2.param["Q_QUERY_TIMEOUT"]) == "17" and htcondor2.param["PRODOPS_TEST_KNOB"] == "yes"


def test_hook_reads_the_connection_sync_and_async(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HTCONDOR_HOOKTEST", URI)
    hook = HTCondorHook(htcondor_conn_id="htcondor_hooktest")
    assert hook.get_settings().schedd_name == "submit01.example.org"
    assert asyncio.run(hook.aget_settings()).conn_id == "htcondor_hooktest"
    assert HTCondorHook.get_ui_field_behaviour()["relabeling"]["host"] == "Collector host"


def test_backend_resolves_its_connection_in_aprepare(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HTCONDOR_PREPARE", URI)
    backend = HTCondorBackend(conn_id="htcondor_prepare")
    asyncio.run(backend.aprepare())
    assert backend.timeout_s == 30.0 and backend.where.startswith("schedd submit01.example.org")
