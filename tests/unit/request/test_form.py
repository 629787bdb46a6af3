"""The request form: one schema for the trigger form and for validate_request."""

from __future__ import annotations

import pytest

from prodops.exceptions import RequestInvalid
from prodops.request.form import form_fields, validate_request
from prodops.workflows import load_templates

GOOD = {
    "experiment": "nova",
    "campaign": "prod5.1-mc",
    "workflow": "demo",
    "n_jobs": 20,
    "request_memory_mb": 256,
    "request_disk_mb": 100,
    "max_wall_time_min": 30,
    "priority": 60,
    "justification": "Monte Carlo for the 2026 oscillation analysis",
    "contact": "paola@example.org",
    "workflow_options": {"fail_exit": [1, 2]},
}


@pytest.fixture(scope="module")
def templates():
    return load_templates()


def test_valid_form_is_accepted(templates):
    request = validate_request(GOOD, templates)
    assert request.n_jobs == 20 and request.workflow == "demo"
    assert request.workflow_options == {"fail_exit": [1, 2]}


def test_every_bad_field_is_named_at_once(templates):
    bad = {**GOOD, "n_jobs": 0, "contact": "not-an-address", "workflow": "nosuch", "priority": 101, "color": "red"}
    with pytest.raises(RequestInvalid) as err:
        validate_request(bad, templates)
    assert set(err.value.errors) == {"n_jobs", "contact", "workflow", "priority", "color"}
    message = str(err.value)
    assert "n_jobs" in message and "got 0" in message and "5 field(s)" in message


def test_needs_exactly_one_kind_of_input(templates):
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "n_jobs": None}, templates)
    assert "n_jobs" in err.value.errors and "input dataset or a number of jobs" in err.value.errors["n_jobs"]
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "input_dataset": "nova_prod5_raw"}, templates)
    assert "input_dataset" in err.value.errors


def test_workflow_options_are_checked_against_the_template(templates):
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "workflow_options": {"fail_exit": ["x"], "bogus": 1}}, templates)
    assert "workflow_options.fail_exit.0" in err.value.errors
    assert "workflow_options" in err.value.errors  # the unknown option


def test_form_fields_offer_the_templates_present(templates):
    fields = form_fields(templates)
    assert fields["workflow"]["enum"] == sorted(templates)
    assert {"experiment", "campaign", "workflow", "input_dataset", "n_jobs", "request_memory_mb", "request_disk_mb",
            "max_wall_time_min", "priority", "justification", "contact"} <= set(fields)


CONTROL = {"newline": "\n", "carriage return": "\r", "NUL": "\x00", "tab": "\t", "unit separator": "\x1f",
           "C1": "\x85", "DEL": "\x7f"}


@pytest.mark.parametrize("char", CONTROL.values(), ids=list(CONTROL))
@pytest.mark.parametrize("field", ["campaign", "justification", "contact", "input_dataset"])
def test_a_control_character_in_free_text_is_refused_naming_the_field(templates, field, char):
    value = {"campaign": "poc{}executable = /usr/bin/touch", "justification": "Needed by Friday{}really",
             "contact": "paola@example.org{}", "input_dataset": "file:///data/raw/{}*.raw"}[field].format(char)
    form = {**GOOD, field: value, **({"n_jobs": None, "workflow": "keepup"} if field == "input_dataset" else {})}
    with pytest.raises(RequestInvalid) as err:
        validate_request(form, templates)
    assert "control character" in err.value.errors[field]


def test_the_reported_campaign_injection_is_refused(templates):
    campaign = "poc\nexecutable = /usr/bin/touch\narguments = pwned\nz = "
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "campaign": campaign}, templates)
    assert list(err.value.errors) == ["campaign"]


@pytest.mark.parametrize("campaign", ["mc 2026", "a/b", "x$y", 'q"', "-lead", "é"])
def test_identifiers_have_a_character_class(templates, campaign):
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "campaign": campaign}, templates)
    assert "campaign" in err.value.errors


@pytest.mark.parametrize("value", ["/tmp/$ENV(HOME)", "$(ProcId)", "$$(Memory)"])
def test_macro_syntax_in_workflow_options_is_refused_naming_the_option(templates, value):
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "workflow_options": {"storage_down_flag": value}}, templates)
    assert "workflow_options.storage_down_flag" in err.value.errors


def test_a_control_character_in_an_option_key_is_refused(templates):
    with pytest.raises(RequestInvalid) as err:
        validate_request({**GOOD, "workflow_options": {"a\nb": 1}}, templates)
    assert any(name.startswith("workflow_options") for name in err.value.errors)


def test_the_trigger_form_carries_the_same_rules_for_the_ui():
    import re

    fields = form_fields(["demo"])
    for name in ("justification", "input_dataset"):
        assert re.match(fields[name]["pattern"], "plain text") and not re.match(fields[name]["pattern"], "a\nb")
    for name in ("experiment", "campaign"):
        assert re.match(fields[name]["pattern"], "prod5.1-mc") and not re.match(fields[name]["pattern"], "a b")


def test_input_dataset_outside_the_roots_is_refused_naming_them(templates, monkeypatch, tmp_path):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(tmp_path))
    form = {**GOOD, "workflow": "keepup", "n_jobs": None, "input_dataset": "file:///etc/*", "workflow_options": {}}
    with pytest.raises(RequestInvalid) as err:
        validate_request(form, templates)
    assert "outside the dataset roots" in err.value.errors["input_dataset"]
    assert str(tmp_path) in err.value.errors["input_dataset"]
