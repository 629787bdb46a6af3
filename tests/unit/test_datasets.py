"""Input datasets resolve to files with event counts inside the dataset roots, or say why not."""

from __future__ import annotations

import json
import os

import pytest

from prodops.datasets import dataset_error, resolve_dataset
from prodops.datasets.model import DatasetInvalid
from tests.fakes.catalogue import FakeMetaCat, FakeSamweb, refused_url, serving


@pytest.fixture(autouse=True)
def roots(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(root))
    return root


def test_file_dataset_resolves_sorted_with_event_counts(roots):
    for name, lines in [("b.raw", 3), ("a.raw", 2)]:
        (roots / name).write_text("".join(f"ev{i}\n" for i in range(lines)))
    files = resolve_dataset(f"file://{roots}/*.raw")
    assert [(f.path.rsplit("/", 1)[1], f.events) for f in files] == [("a.raw", 2), ("b.raw", 3)]


@pytest.mark.parametrize(("name", "message"), [("sam:nova_raw", "SAM service"), ("file://relative/*.raw", "absolute")])
def test_unusable_dataset_names_are_explained(name, message):
    assert message in dataset_error(name)
    with pytest.raises(DatasetInvalid, match=message):
        resolve_dataset(name)


def test_empty_glob_is_an_error(roots):
    with pytest.raises(DatasetInvalid, match="matches no file"):
        resolve_dataset(f"file://{roots}/*.raw")


@pytest.mark.parametrize("name", ["file:///etc/*", "file:///etc/passwd", "file:///*"])
def test_a_path_outside_the_roots_is_refused_naming_the_roots(name, roots):
    problem = dataset_error(name)
    assert "outside the dataset roots" in problem and str(roots) in problem
    with pytest.raises(DatasetInvalid, match="PRODOPS_DATASET_ROOTS"):
        resolve_dataset(name)


def test_dot_dot_cannot_climb_out_of_a_root(roots):
    assert "'..' is not allowed" in dataset_error(f"file://{roots}/../../etc/*")


def test_a_symlinked_directory_leading_out_is_refused(roots, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x.raw").write_text("ev\n")
    os.symlink(outside, roots / "link")
    assert "outside the dataset roots" in dataset_error(f"file://{roots}/link/*.raw")


def test_a_symlinked_file_leading_out_is_refused(roots, tmp_path):
    (tmp_path / "secret.raw").write_text("ev\n")
    (roots / "ok.raw").write_text("ev\n")
    os.symlink(tmp_path / "secret.raw", roots / "leak.raw")
    assert dataset_error(f"file://{roots}/*.raw") is None  # the glob itself is inside
    with pytest.raises(DatasetInvalid, match="symlink leads out"):
        resolve_dataset(f"file://{roots}/*.raw")


def test_a_file_name_with_macro_syntax_is_refused_by_name(roots):
    (roots / "run$ENV(HOME).raw").write_text("ev\n")
    with pytest.raises(DatasetInvalid, match=r"run\$ENV\(HOME\)\.raw.*macro syntax"):
        resolve_dataset(f"file://{roots}/*.raw")


def test_roots_come_from_include_datasets_yaml_without_the_setting(monkeypatch):
    from prodops import config

    monkeypatch.delenv("PRODOPS_DATASET_ROOTS")
    assert config.dataset_roots() == ((config.REPO_ROOT / ".local/prodops/datasets").resolve(),)


# --- SAM and MetaCat, against fake servers speaking their HTTP APIs on 127.0.0.1 ---------------

SAM_FILES = [("nova_r12_s02.raw", 3_000, 40), ("nova_r12_s01.raw", 2_000, 25)]
KEEPUP_FORM = {
    "workflow": "keepup",
    "n_jobs": None,
    "request_memory_mb": 500,
    "request_disk_mb": 300,
    "max_wall_time_min": 30,
    "workflow_options": {},
}


def _connect(monkeypatch, conn_id: str, url: str, timeout_s: float = 30.0) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", "host": url}))
    monkeypatch.setenv("PRODOPS_DATASET_TIMEOUT_S", str(timeout_s))


@pytest.fixture
def samweb(monkeypatch):
    with serving(FakeSamweb()) as server:
        _connect(monkeypatch, "samweb_default", server.api_url)
        yield server


@pytest.fixture
def metacat(monkeypatch):
    with serving(FakeMetaCat()) as server:
        _connect(monkeypatch, "metacat_default", server.url)
        yield server


def _metacat_file(name: str, size: object, events: object = None) -> dict:
    metadata = {} if events is None else {"core.event_count": events}
    return {"fid": name, "namespace": "hd-protodune", "name": name, "size": size, "metadata": metadata}


@pytest.mark.parametrize("form", ["sam:nova_raw", "sam://nova_raw"])
def test_a_sam_definition_lists_its_files_with_sizes_and_events(samweb, form):
    samweb.definitions["nova_raw"] = SAM_FILES
    files = resolve_dataset(form)
    assert [(f.path, f.size_bytes, f.events) for f in files] == [
        ("nova_r12_s01.raw", 2_000, 25),
        ("nova_r12_s02.raw", 3_000, 40),
    ]
    assert samweb.calls == [
        "GET /sam/nova/api/definitions/name/nova_raw/files/summary?format=json",
        "GET /sam/nova/api/definitions/name/nova_raw/files/list?fileinfo=1",
    ]


def test_sam_sizes_and_events_reach_the_approval_totals(samweb):
    from prodops.request.approval_text import dataset_files, request_totals, totals_lines
    from prodops.request.form import validate_request
    from prodops.workflows import load_templates
    from tests.unit.request.test_form import GOOD

    samweb.definitions["nova_raw"] = SAM_FILES
    templates = load_templates()
    request = validate_request({**GOOD, **KEEPUP_FORM, "input_dataset": "sam:nova_raw"}, templates)
    totals = request_totals(request, templates["keepup"], dataset_files(request.input_dataset))
    assert totals_lines(totals)[-1] == "**Input:** 2 files, 5,000 bytes, 65 events"
    assert [(s.name, s.jobs) for s in totals.stages] == [("reco", 1), ("merge", 1)]


def test_sam_events_unknown_are_left_out_of_the_totals(samweb):
    from prodops.request.approval_text import dataset_files

    samweb.definitions["nova_raw"] = [("a.raw", 10, None)]
    assert resolve_dataset("sam:nova_raw")[0].events is None
    assert dataset_files("sam:nova_raw").events is None


def test_an_unknown_sam_definition_names_the_dataset_and_samwebs_answer(samweb):
    with pytest.raises(DatasetInvalid, match=r"'sam:nova_nope': samweb answered 404 .*Definition nova_nope not found"):
        resolve_dataset("sam:nova_nope")


def test_an_empty_sam_definition_is_refused_without_listing(samweb):
    samweb.definitions["nova_empty"] = []
    with pytest.raises(DatasetInvalid, match="'sam:nova_empty' has no files"):
        resolve_dataset("sam:nova_empty")
    assert len(samweb.calls) == 1


def test_samweb_down_is_named_with_its_address(monkeypatch):
    with refused_url() as url:
        _connect(monkeypatch, "samweb_default", url + "/sam/nova/api")
        with pytest.raises(DatasetInvalid, match=rf"'sam:nova_raw': samweb at {url}/sam/nova/api.* cannot be reached"):
            resolve_dataset("sam:nova_raw")


def test_a_slow_samweb_times_out(samweb, monkeypatch):
    samweb.definitions["nova_raw"] = SAM_FILES
    samweb.delay_s = 2.0
    monkeypatch.setenv("PRODOPS_DATASET_TIMEOUT_S", "0.5")
    with pytest.raises(DatasetInvalid, match=r"'sam:nova_raw': samweb .* did not answer within 0.5 s"):
        resolve_dataset("sam:nova_raw")


@pytest.mark.parametrize("bad", ["../../etc/passwd", "run$(HOME).raw", "-rf", "a\x1bb.raw"])
def test_a_file_name_from_samweb_that_is_not_a_plain_name_is_refused(samweb, bad):
    samweb.definitions["nova_raw"] = [("ok.raw", 1, 1), (bad, 1, 1)]
    with pytest.raises(DatasetInvalid, match="not a plain file name"):
        resolve_dataset("sam:nova_raw")


def test_a_malformed_samweb_line_is_refused(samweb):
    samweb.definitions["nova_raw"] = [("a.raw", "big", 1)]
    with pytest.raises(DatasetInvalid, match="the size 'big'"):
        resolve_dataset("sam:nova_raw")


@pytest.mark.parametrize(
    "name",
    [
        "sam:",
        "sam:nova raw",
        "sam:$(HOME)",
        "sam:a/b",
        "metacat:noname",
        "metacat:ns:a b",
        "metacat:",
        "rucio:ns:name",
        "/data/*.raw",
    ],
)
def test_malformed_dataset_names_are_refused_before_any_call(name, samweb, metacat):
    assert dataset_error(name)
    assert samweb.calls == [] and metacat.calls == []


def test_sam_and_metacat_names_pass_the_form_when_their_connections_exist(samweb, metacat):
    assert dataset_error("sam:nova_raw") is None
    assert dataset_error("metacat:hd-protodune:raw_run12") is None


@pytest.mark.parametrize("query_format", ["json-seq", "list", "results"])
def test_a_metacat_dataset_lists_its_files_with_sizes_and_events(metacat, query_format):
    metacat.query_format = query_format
    metacat.datasets["hd-protodune:raw_run12"] = [_metacat_file("b.hdf5", 300, 7), _metacat_file("a.hdf5", 200, 5)]
    files = resolve_dataset("metacat:hd-protodune:raw_run12")
    assert [(f.path, f.size_bytes, f.events) for f in files] == [("a.hdf5", 200, 5), ("b.hdf5", 300, 7)]
    assert metacat.calls == [
        "GET /data/dataset?dataset=hd-protodune%3Araw_run12",
        "POST /data/query?with_meta=yes&with_provenance=no",
    ]


def test_an_unknown_metacat_dataset_names_metacats_answer(metacat):
    with pytest.raises(DatasetInvalid, match=r"'metacat:ns:nope': MetaCat answered 404 .*Dataset ns:nope not found"):
        resolve_dataset("metacat:ns:nope")


def test_an_empty_metacat_dataset_is_refused(metacat):
    metacat.datasets["ns:empty"] = []
    with pytest.raises(DatasetInvalid, match="'metacat:ns:empty' has no files"):
        resolve_dataset("metacat:ns:empty")


def test_metacat_down_and_slow_are_named(metacat, monkeypatch):
    metacat.datasets["ns:raw"] = [_metacat_file("a.hdf5", 1)]
    metacat.delay_s = 2.0
    monkeypatch.setenv("PRODOPS_DATASET_TIMEOUT_S", "0.5")
    with pytest.raises(DatasetInvalid, match="MetaCat .* did not answer within 0.5 s"):
        resolve_dataset("metacat:ns:raw")
    with refused_url() as url:
        _connect(monkeypatch, "metacat_default", url)
        with pytest.raises(DatasetInvalid, match=f"MetaCat at {url}/data/dataset cannot be reached"):
            resolve_dataset("metacat:ns:raw")


def test_a_metacat_file_name_with_a_path_is_refused(metacat):
    metacat.datasets["ns:raw"] = [_metacat_file("/etc/passwd", 1)]
    with pytest.raises(DatasetInvalid, match="not a plain file name"):
        resolve_dataset("metacat:ns:raw")


def test_an_error_metacat_reports_for_the_query_is_named(metacat):
    metacat.datasets["ns:raw"] = [_metacat_file("a.hdf5", 1)]
    metacat.query_error = {"type": "MQLError", "value": "syntax\nerror"}
    with pytest.raises(DatasetInvalid, match=r"'metacat:ns:raw': MetaCat's query failed: MQLError: syntax error$"):
        resolve_dataset("metacat:ns:raw")


def test_a_sam_definition_splits_into_the_first_stages_jobs_by_file_name(samweb):
    from prodops.stage import stage_input_files
    from prodops.workflows import load_templates

    samweb.definitions["nova_raw"] = [*SAM_FILES, ("nova_r12_s03.raw", 1_000, 5)]
    keepup = load_templates()["keepup"]
    inputs = stage_input_files(None, {"input_dataset": "sam:nova_raw"}, keepup, "reco")
    assert inputs == {"nova_r12_s01.raw": 25, "nova_r12_s02.raw": 40, "nova_r12_s03.raw": 5}
    jobs = keepup.stage("reco").jobs_for(list(inputs), None)
    assert jobs == [["nova_r12_s01.raw", "nova_r12_s02.raw"], ["nova_r12_s03.raw"]]  # 2 files per reco job
