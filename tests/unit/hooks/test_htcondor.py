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


# ---- what every job gets from the pool (issue 14 item 1) -----------------------------------

POOL_EXTRA = {"schedd": "submit01.example.org", "credentials": "oauth", "filesystem": "shared",
              "container": "container_universe",
              "experiments": {"nova": {"production": {"accounting_group": "group_nova.prod",
                                                      "accounting_group_user": "novapro"}}}}


def test_connection_extras_carry_the_pools_submit_settings():
    settings = PoolSettings.from_connection(conn(conn_type="htcondor", host="cm.example.org",
                                                 extra=json.dumps(POOL_EXTRA)))
    assert settings.submit.credentials == "oauth" and settings.submit.filesystem == "shared"
    assert settings.submit.container == "container_universe"
    assert settings.submit.role("nova", "production").accounting_group_user == "novapro"
    backend = HTCondorBackend(settings=settings, schedd_factory=None)
    assert backend.pool_submit is settings.submit


def test_connection_without_submit_settings_transfers_files_and_sends_no_credential():
    settings = PoolSettings.from_connection(Connection.from_uri(URI, conn_id="htcondor_default"))
    assert settings.submit.filesystem == "transfer" and settings.submit.credentials == "none"
    assert not settings.submit.experiments


@pytest.mark.parametrize("extra,message", [
    ({"credentials": "kerberos"}, "extra.credentials: must be 'oauth', 'token_file', 'x509' or 'none'"),
    ({"filesystem": "afs"}, "extra.filesystem: must be 'transfer' or 'shared'"),
    ({"experiments": {"nova": {"prod": {"group": "group_nova.prod"}}}},
     "extra.experiments.nova.prod.group: is not a known setting"),
])
def test_bad_submit_settings_of_the_connection_name_the_field(extra, message):
    with pytest.raises(PoolConfigError, match="HTCondor connection 'htcondor_test' is invalid") as err:
        PoolSettings.from_connection(conn(conn_type="htcondor", extra=json.dumps(extra)))
    assert message in str(err.value)


# ---- the connection checked at start (issue 14 item 7) -------------------------------------


class FakeCollector:
    """htcondor2.Collector's query and locate, for a pool whose collector answers."""

    schedds: list[str] = []

    def __init__(self, pool: str | None = None) -> None:
        self.pool = pool

    def query(self, ad_type=None, constraint=None, projection=None, statistics=None):
        if ad_type == htcondor2.AdType.Collector:
            return [{"Name": "cm.example.org"}]
        return [{"Name": name} for name in self.schedds if constraint == f'Name == "{name}"']

    def locate(self, daemon_type, name=None):
        raise AssertionError("the schedd was located although the collector does not know it")


def test_check_says_when_the_token_file_cannot_be_read(tmp_path):
    from prodops.batch.htcondor import PoolCheckFailed

    token = tmp_path / "gone.token"
    settings = PoolSettings(collector="cm.example.org:9618", schedd_name="s", token_file=str(token),
                            conn_id="htcondor_token")
    with pytest.raises(PoolCheckFailed) as err:
        HTCondorBackend(settings=settings).check()
    assert err.value.part == "token"
    assert f"extra.token_file '{token}' of connection 'htcondor_token' cannot be read (No such file or directory)" \
        in str(err.value) and "readable by the user the Airflow components run as" in str(err.value)


def test_check_says_when_the_token_directory_holds_nothing_readable(tmp_path):
    from prodops.batch.htcondor import PoolCheckFailed

    (tmp_path / "tokens.d").mkdir()
    (tmp_path / "tokens.d" / "a_directory").mkdir()
    settings = PoolSettings(collector="cm.example.org:9618", schedd_name="s", token_dir=str(tmp_path / "tokens.d"),
                            conn_id="htcondor_tokendir")
    with pytest.raises(PoolCheckFailed, match=r"token '.*a_directory' in extra.token_dir of connection "
                                              r"'htcondor_tokendir' cannot be read \(Is a directory\)"):
        HTCondorBackend(settings=settings).check()
    (tmp_path / "tokens.d" / "a_directory").rmdir()
    with pytest.raises(PoolCheckFailed, match=r"extra.token_dir '.*tokens.d' of connection 'c' holds no token; "
                                              r"put the pool's IDTOKEN there"):
        HTCondorBackend(settings=PoolSettings(token_dir=str(tmp_path / "tokens.d"), conn_id="c")).check()


def test_check_says_when_the_collector_is_unreachable():
    """Real bindings against a closed port."""
    from prodops.batch.htcondor import PoolCheckFailed

    settings = PoolSettings(collector="127.0.0.1:9", schedd_name="submit01.example.org", timeout_s=5,
                            conn_id="htcondor_closed")
    with pytest.raises(PoolCheckFailed) as err:
        HTCondorBackend(settings=settings).check()
    assert err.value.part == "collector"
    assert str(err.value).startswith("the collector 127.0.0.1:9 of connection 'htcondor_closed' is unreachable: ")
    assert "check the connection's host and port" in str(err.value)


def test_check_says_when_the_collector_does_not_know_the_schedd(monkeypatch):
    from prodops.batch import htcondor as module

    monkeypatch.setattr(module.htcondor2, "Collector", FakeCollector)
    monkeypatch.setattr(FakeCollector, "schedds", ["submit02.example.org"])
    settings = PoolSettings(collector="cm.example.org:9618", schedd_name="submit01.example.org", timeout_s=5,
                            conn_id="htcondor_noschedd")
    with pytest.raises(module.PoolCheckFailed) as err:
        HTCondorBackend(settings=settings).check()
    assert err.value.part == "schedd"
    assert str(err.value) == (
        "schedd 'submit01.example.org' is not known to the collector cm.example.org:9618; check extra.schedd of "
        "connection 'htcondor_noschedd' (`condor_status -schedd` lists the names) or whether the schedd is up")


def test_check_says_when_the_schedd_does_not_answer_and_nothing_is_submitted(tmp_path):
    from prodops.batch.base import SubmissionSpec
    from prodops.batch.htcondor import PoolCheckFailed
    from tests.fakes.schedd import FakeSchedd

    schedd = FakeSchedd()
    try:
        backend = HTCondorBackend(schedd_factory=lambda: schedd, timeout_s=5)
        schedd.unreachable = True
        with pytest.raises(PoolCheckFailed, match="was located but does not answer") as err:
            backend.submit(SubmissionSpec(request_id=1, stage="run", attempt=1, executable="/bin/true", items=["a"],
                                          workdir=str(tmp_path)))
        assert err.value.part == "schedd"
        assert [name for name, _ in schedd.calls if name == "submit"] == []
        schedd.unreachable = False
        assert backend.check() == "the schedd"
    finally:
        schedd.close()


def test_the_check_from_the_command_line_names_what_failed(monkeypatch, capsys):
    from prodops.hooks.htcondor import main

    monkeypatch.setenv("AIRFLOW_CONN_HTCONDOR_CLOSED", "htcondor://127.0.0.1:9?schedd=submit01.example.org&timeout_s=5")
    assert main(["htcondor_closed"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("HTCondor connection 'htcondor_closed': the collector 127.0.0.1:9 of connection "
                          "'htcondor_closed' is unreachable")
    monkeypatch.setenv("AIRFLOW_CONN_HTCONDOR_BAD", "htcondor://cm.example.org?credentials=kerberos")
    assert main(["htcondor_bad"]) == 1
    assert "extra.credentials: must be 'oauth'" in capsys.readouterr().err
