"""Keepup campaigns as an operator writes them: checked as the request form checks a request."""

from __future__ import annotations

import pytest
import yaml

from prodops.datasets import dataset_error
from prodops.datasets.model import DatasetInvalid, checked_count
from prodops.keepup import campaigns, listing
from prodops.keepup.campaigns import CampaignsInvalid, load, parse
from prodops.keepup.text import campaign_body

REQUEST = {"request_memory_mb": 200, "request_disk_mb": 100, "max_wall_time_min": 10, "priority": 40,
           "justification": "keepup of the detector's raw files", "contact": "keepup@example.org",
           "workflow_options": {"sleep_s": 0}}


@pytest.fixture
def raw(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(tmp_path))
    (tmp_path / "raw").mkdir()
    return tmp_path / "raw"


def entry(raw, **changes):
    return {"experiment": "nova", "dataset": f"file://{raw}/*.raw", "max_jobs_per_day": 20, "files_per_request": 4,
            "request": REQUEST, **changes}


def test_a_campaign_becomes_the_request_of_each_batch(raw):
    [followed] = parse({"campaigns": {"nova_keepup": entry(raw)}}, "keepup.yaml")
    conf = followed.conf(7)
    assert conf["campaign"] == "nova_keepup" and conf["workflow"] == "keepup" and conf["n_jobs"] is None
    assert conf["input_dataset"] == "keepup:nova_keepup:7" and conf["request_memory_mb"] == 200
    assert set(conf) == set(followed.request().as_form())  # every field of the form, as the request records it


def test_every_problem_is_named_with_its_campaign_and_field(raw):
    bad = {
        "no_cap": {k: v for k, v in entry(raw).items() if k != "max_jobs_per_day"},
        "sets_dataset": entry(raw, request={**REQUEST, "input_dataset": "file:///x/*"}),
        "outside": entry(raw, dataset="file:///etc/*.conf"),
        "mc": entry(raw, workflow="mc_chain"),
        "bad_form": entry(raw, request={**REQUEST, "contact": "nobody"}),
        "zero": entry(raw, files_per_request=0),
        "bad name!": entry(raw),
    }
    with pytest.raises(CampaignsInvalid) as caught:
        parse({"campaigns": bad}, "keepup.yaml")
    errors = caught.value.errors
    assert set(errors) == {"no_cap.max_jobs_per_day", "sets_dataset.request.input_dataset", "outside.dataset",
                           "mc.workflow", "bad_form.request.contact", "zero.files_per_request", "bad name!"}
    assert "dataset roots" in errors["outside.dataset"] and "set by the follower" in errors["sets_dataset.request.input_dataset"]


def test_any_change_to_a_campaign_changes_the_definition_its_approval_holds_for(raw):
    [base] = parse({"campaigns": {"k": entry(raw)}}, "f")
    for change in ({"max_jobs_per_day": 21}, {"files_per_request": 5}, {"request": {**REQUEST, "priority": 41}},
                   {"dataset": f"file://{raw}/*.dat"}):
        [changed] = parse({"campaigns": {"k": entry(raw, **change)}}, "f")
        assert changed.definition_hash != base.definition_hash, change
    [same] = parse({"campaigns": {"k": dict(reversed(list(entry(raw).items())))}}, "f")
    assert same.definition_hash == base.definition_hash


def test_the_variable_replaces_the_file(raw, tmp_path):
    path = tmp_path / "keepup.yaml"
    path.write_text(f"campaigns:\n  from_file:\n    experiment: nova\n    dataset: file://{raw}/*.raw\n"
                    "    max_jobs_per_day: 5\n    request: {justification: keepup from the file, contact: a@b.org}\n")
    assert [c.name for c in load(None, path)[0]] == ["from_file"]
    found, source = load('{"campaigns": {}}', path)
    assert found == [] and source == f"Airflow Variable {campaigns.VARIABLE}"
    assert load(None, tmp_path / "missing.yaml")[0] == []
    with pytest.raises(CampaignsInvalid, match="cannot be read as YAML"):
        load("campaigns: [", path)


def test_a_batch_dataset_is_named_by_campaign_and_number():
    assert dataset_error("keepup:nova_keepup:12") is None
    for bad in ("keepup:nova_keepup", "keepup:nova_keepup:0", "keepup:../x:1", "keepup:a:1;rm"):
        assert "keepup:<campaign>:<batch number>" in (dataset_error(bad) or ""), bad


def test_a_file_dataset_lists_its_files_and_reads_only_those_asked_for(raw):
    for name in ("b.raw", "a.raw", "c.txt"):
        (raw / name).write_text("1\n2\n")
    (raw / "dir.raw").mkdir()
    found = listing.list_dataset(f"file://{raw}/*.raw")
    assert found.names == (str(raw / "a.raw"), str(raw / "b.raw"))
    [detail] = found.details([str(raw / "b.raw")])
    assert (detail.path, detail.events, detail.size_bytes) == (str(raw / "b.raw"), 2, 4)
    assert listing.list_dataset(f"file://{raw}/none-yet-*.raw").names == ()


def test_an_empty_catalogue_dataset_lists_nothing_as_the_datasets_boundary_words_it():
    with pytest.raises(DatasetInvalid) as caught:
        checked_count("sam:nova_raw", [])
    assert str(caught.value).endswith(listing.EMPTY)


def test_the_approver_reads_the_definition_as_data(raw):
    request = {**REQUEST, "justification": "keepup `| **bold** of the raw files"}
    [followed] = parse({"campaigns": {"nova_keepup": entry(raw, request=request)}}, "f")
    body = campaign_body(followed)
    assert "``keepup `| **bold** of the raw files``" in body
    assert "20 jobs per day" in body and "a full request makes 3 jobs" in body  # 4 files: 2 reco jobs + 1 merge
    assert followed.definition_hash[:12] in body


def test_the_shipped_file_follows_nothing_and_its_example_is_a_valid_campaign(monkeypatch):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", "/data")
    text = campaigns.CAMPAIGNS_FILE.read_text()
    assert load(None, campaigns.CAMPAIGNS_FILE)[0] == []
    example = "campaigns:\n" + "\n".join(line[1:] for line in text.split("campaigns: {}\n", 1)[1].splitlines())
    [followed] = parse(yaml.safe_load(example), "example")
    assert followed.name == "nova_keepup_r51" and followed.campaign.max_jobs_per_day == 400
