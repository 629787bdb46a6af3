"""Data-quality suites with real Great Expectations on hand-made good and bad outputs."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from prodops.quality.suites import SuiteInvalid, load_suite, parse_suite, run_checks

GOOD_OUTPUTS = pd.DataFrame({
    "job": [0, 1, 2], "file": ["gen_0.dat", "gen_1.dat", "gen_2.dat"], "size": [100, 100, 100],
    "checksum": ["adler32:1", "adler32:2", "adler32:3"], "events": [50, 50, 50], "readable": [True, True, True],
})
JOBS = pd.DataFrame({"job": [0, 1, 2], "outcome": ["succeeded"] * 3, "exit_code": [0, 0, 0],
                     "wall_s": [10.0, 10.0, 10.0], "cpu_s": [8.0, 9.0, 7.0], "cpu_efficiency": [0.8, 0.9, 0.7]})
INPUTS = pd.DataFrame({"job": [0, 1, 2], "file": ["/in/a", "/in/b", "/in/c"]})
FACTS = {"expected_files": 3, "events_per_job": 50, "input_files": 3, "input_file_list": ["/in/a", "/in/b", "/in/c"],
         "input_events": 150}


def failed(results):
    return {r.id: r.observed for r in results if not r.success}


def test_shipped_suites_load():
    for workflow, name in [("mc_chain", "gen"), ("mc_chain", "transform"), ("mc_chain", "merge"),
                           ("keepup", "transform"), ("keepup", "merge")]:
        assert load_suite(workflow, name)


def test_good_generator_outputs_pass():
    results = run_checks(load_suite("mc_chain", "gen"), {"outputs": GOOD_OUTPUTS, "jobs": JOBS}, FACTS)
    assert failed(results) == {} and len(results) == 6


def test_bad_generator_outputs_fail_by_name_with_observed_values():
    bad = GOOD_OUTPUTS.copy()
    bad.loc[1, ["size", "events", "readable"]] = [0, 0, False]
    bad.loc[2, "file"] = "gen_0.dat"
    results = run_checks(load_suite("mc_chain", "gen"), {"outputs": bad, "jobs": JOBS}, {**FACTS, "expected_files": 4})
    observed = failed(results)
    assert set(observed) == {"one_file_per_job", "no_empty_files", "files_readable", "events_per_file",
                             "no_duplicate_outputs"}
    assert observed["one_file_per_job"] == 3
    assert observed["no_empty_files"]["unexpected_count"] == 1
    message = next(r for r in results if r.id == "no_empty_files").message
    assert message.startswith("critical expectation no_empty_files") and "FAILED" in message


def test_transform_checks_inputs_consumed_once_and_events_conserved():
    suite = load_suite("mc_chain", "transform")
    assert failed(run_checks(suite, {"outputs": GOOD_OUTPUTS, "inputs": INPUTS, "jobs": JOBS}, FACTS)) == {}
    twice = pd.DataFrame({"job": [0, 1, 2], "file": ["/in/a", "/in/a", "/in/x"]})
    lost = GOOD_OUTPUTS.assign(events=[50, 50, 49])
    observed = failed(run_checks(suite, {"outputs": lost, "inputs": twice, "jobs": JOBS}, FACTS))
    assert set(observed) == {"inputs_consumed_once", "only_given_inputs", "events_conserved"}
    assert observed["events_conserved"] == 149


def test_low_cpu_efficiency_is_a_warning_not_critical():
    idle = JOBS.assign(cpu_efficiency=[0.001, 0.0, 0.002])
    results = run_checks(load_suite("mc_chain", "gen"), {"outputs": GOOD_OUTPUTS, "jobs": idle}, FACTS)
    (bad,) = [r for r in results if not r.success]
    assert (bad.id, bad.severity) == ("cpu_efficiency", "warning")


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ({"expectations": [{"id": "a", "table": "outputs", "type": "expect_the_moon"}]}, "not a Great Expectations"),
        ({"expectations": [{"id": "a", "table": "files", "type": "expect_table_row_count_to_equal"}]}, "table 'files'"),
        ({"expectations": [{"id": "a", "table": "jobs", "type": "expect_table_row_count_to_equal"}] * 2}, "used twice"),
        ({"expectations": [{"table": "jobs", "type": "expect_table_row_count_to_equal"}]}, "field id is missing"),
        ({"expectations": [{"id": "a", "table": "jobs", "type": "expect_table_row_count_to_equal",
                            "severity": "fatal"}]}, "severity 'fatal'"),
    ],
)
def test_bad_suite_names_the_problem(tmp_path, suite, message):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(suite))
    with pytest.raises(SuiteInvalid, match=message):
        parse_suite(path, suite)


def test_unknown_fact_is_named():
    (check,) = parse_suite("x.yaml", {"expectations": [{"id": "n", "table": "jobs",
                                                        "type": "expect_table_row_count_to_equal",
                                                        "kwargs": {"value": "{jobs_expected}"}}]})
    with pytest.raises(SuiteInvalid, match=r"expectation n: \{jobs_expected\} is not a known fact"):
        run_checks((check,), {"jobs": JOBS}, FACTS)


def test_fact_values_are_data_never_templates():
    """A fact (from job output: file names, counts) replaces a whole "{fact}" string and is never
    read again as a placeholder, a format string or anything else."""
    from prodops.quality.suites import resolve

    facts = {"inputs": ["{secret}", "a {b} c", "$(ENV)"], "n": "{n}", "secret": "leaked"}
    kwargs = {"value_set": "{inputs}", "max_value": "{n}", "text": "not {secret} a placeholder"}
    assert resolve(kwargs, facts, "t") == {"value_set": ["{secret}", "a {b} c", "$(ENV)"], "max_value": "{n}",
                                           "text": "not {secret} a placeholder"}
