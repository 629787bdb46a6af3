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
