"""The approver sees every value of the request verbatim, whatever Markdown it holds."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from markdown_it import MarkdownIt

from prodops.request.approval_text import (
    CORES_PER_JOB, ApprovalFacts, InputFiles, OtherRequest, ServiceState, Window, approval_body, approval_subject,
    code_span, dataset_files, request_totals, totals_lines,
)
from prodops.request.form import validate_request
from prodops.workflows import load_templates
from tests.unit.request.test_form import GOOD

TRICKY = [
    "**Approve at once** [see here](http://evil.example/)",
    "# Heading",
    "`code` and ``more``",
    "` leading backtick",
    "trailing space ",
    "<script>alert(1)</script>",
    "a | b | c",
    "plain",
]


def rendered_code(markdown: str) -> list[str]:
    """The text of every code span, as a Markdown renderer reads the source."""
    tokens = MarkdownIt().parseInline(markdown)
    return [child.content for token in tokens for child in token.children or [] if child.type == "code_inline"]


@pytest.mark.parametrize("value", TRICKY)
def test_code_span_shows_the_value_verbatim(value):
    assert rendered_code(code_span(value)) == [value]


@pytest.mark.parametrize("value", TRICKY)
def test_the_body_shows_justification_verbatim_and_nothing_else_renders(value):
    request = validate_request(GOOD, load_templates())
    request = dataclasses.replace(request, justification=value)
    body = approval_body(request)
    html = MarkdownIt().render(body)
    assert "<a " not in html and "<h1" not in html and "<script" not in html
    assert any(value.strip() in code for code in rendered_code(body))


def test_the_body_names_every_field_of_the_form():
    request = validate_request(GOOD, load_templates())
    body = approval_body(request)
    for field in ("Experiment", "Campaign", "Workflow", "Jobs", "Input dataset", "Requested priority", "Contact",
                  "Workflow options", "Justification"):
        assert f"**{field}:**" in body
    assert "`prod5.1-mc`" in body and '`{"fail_exit": [1, 2]}`' in body
    assert approval_subject(12, request) == "Approve production request 12 (nova / prod5.1-mc)"


# Totals on hand-computed requests (issue 18): jobs of each stage by its split, core-hours =
# jobs x wall time x cores, memory and disk = jobs x per-job request, summed over the stages.
MC_CHAIN = {**GOOD, "workflow": "mc_chain", "n_jobs": 25, "request_memory_mb": 2000, "request_disk_mb": 1000,
            "max_wall_time_min": 120, "workflow_options": {}}
RAW_SIZES = (1000, 2000, 3000, 4000, 5000)


def test_totals_of_a_monte_carlo_chain_by_hand():
    templates = load_templates()
    totals = request_totals(validate_request(MC_CHAIN, templates), templates["mc_chain"])
    # gen 25 jobs, g4 and reco one file per job: 25 each, merge 10 files per job: ceil(25 / 10) = 3
    assert [(s.name, s.jobs) for s in totals.stages] == [("gen", 25), ("g4", 25), ("reco", 25), ("merge", 3)]
    assert totals.jobs == 78
    assert totals.core_hours == 78 * 2 * 1 == 156
    assert totals.memory_mb == 78 * 2000 == 156_000
    assert totals.disk_mb == 78 * 1000 == 78_000
    assert totals.input is None
    assert totals_lines(totals) == [
        "**Jobs in all:** 78 (gen 25, g4 25, reco 25, merge 3)",
        "**Core-hours requested:** 156 (jobs x wall time x 1 core)",
        "**Memory in all:** 152 GB",  # 156,000 MB / 1024
        "**Disk in all:** 76 GB",  # 78,000 MB / 1024 = 76.2
    ]


def test_totals_of_a_dataset_request_count_its_files_and_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(tmp_path))
    for k, size in enumerate(RAW_SIZES):
        (tmp_path / f"run{k}.raw").write_bytes(b"x" * size)
    templates = load_templates()
    form = {**GOOD, "workflow": "keepup", "n_jobs": None, "input_dataset": f"file://{tmp_path}/*.raw",
            "request_memory_mb": 500, "request_disk_mb": 300, "max_wall_time_min": 30, "workflow_options": {}}
    request = validate_request(form, templates)
    totals = request_totals(request, templates["keepup"], dataset_files(request.input_dataset))
    # reco: 2 raw files per job -> ceil(5 / 2) = 3 jobs; merge: every file in one job -> 1
    assert [(s.name, s.jobs) for s in totals.stages] == [("reco", 3), ("merge", 1)]
    assert (totals.jobs, totals.core_hours, totals.memory_mb, totals.disk_mb) == (4, 4 * 0.5, 4 * 500, 4 * 300)
    assert totals.input == InputFiles(files=5, bytes=15_000, events=5)  # one record per file: no newline
    assert totals_lines(totals)[-1] == "**Input:** 5 files, 15,000 bytes, 5 events"


def test_cores_per_job_is_what_every_job_is_submitted_with():
    from prodops.batch.base import SubmissionSpec
    from prodops.batch.submit import render_submit

    spec = SubmissionSpec(request_id=1, stage="run", attempt=1, executable="/bin/true", items=["a"],
                          workdir="/tmp/w", request_memory_mb=100, request_disk_mb=10, max_wall_time_s=60,
                          priority=1, batch_name="nova-x-1-run")
    assert int(render_submit(spec)["request_cpus"]) == CORES_PER_JOB


def test_the_body_shows_totals_services_maintenance_and_the_campaign():
    templates = load_templates()
    request = validate_request(MC_CHAIN, templates)
    now = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    facts = ApprovalFacts(
        totals=request_totals(request, templates["mc_chain"]), now=now,
        services=(ServiceState("dcache", "down", now - timedelta(hours=1)), ServiceState("samweb", "up")),
        maintenance=(Window(("fts",), now + timedelta(days=1), now + timedelta(days=1, hours=4), "[FTS](http://x) upgrade"),),
        campaign=(OtherRequest(7, "failed", 20, 16, 4, "stage run: 4 jobs failed"),))
    body = approval_body(request, facts)
    html = MarkdownIt().render(body)
    assert "<a " not in html
    for text in ("**Jobs in all:** 78", "**Core-hours requested:** 156", "`dcache`: **down** since 2026-12-01 07:00 UTC",
                 "`samweb`: **up**", "2026-12-02 08:00 UTC - 2026-12-02 12:00 UTC, `fts`: `[FTS](http://x) upgrade`",
                 "request 7: **failed**, 16 of 20 jobs succeeded, 4 failed (`stage run: 4 jobs failed`)"):
        assert text in body
    assert body.startswith(approval_body(request))  # the form first, as before
