"""Workflow templates: loading, errors, and per-job arguments."""

from __future__ import annotations

import pytest

from prodops.workflows import TemplateInvalid, load_templates


def test_demo_template_builds_one_argument_string_per_job_with_faults():
    demo = load_templates()["demo"]
    items = demo.job_arguments("run", 5, {"fail_exit": [1], "fail_signal": [2], "exceed_memory": [3],
                                          "records": 7, "sleep_s": 0}, request_memory_mb=100)
    assert len(items) == 5
    assert items[0] == "--job 0 --records 7 --sleep 0"
    assert items[1].endswith("--exit 3") and items[2].endswith("--signal 9")
    assert items[3].endswith("--memory 264")
    assert demo.executable_path("run").endswith("include/jobs/demo_job.py")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\n", "missing stages"),
        ("name: x\nstages:\n  - name: a\n", "stage 0 lacks executable, arguments"),
        ("name: x\nstages: []\n", "at least one stage"),
        ("[unclosed", "not valid YAML"),
    ],
)
def test_bad_template_names_the_problem(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(TemplateInvalid, match=message):
        load_templates(tmp_path)
