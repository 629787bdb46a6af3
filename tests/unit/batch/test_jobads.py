"""The local pool speaks HTCondor's codes: its hold codes and subcode are those of the one table."""

from __future__ import annotations

import yaml

from prodops import config
from prodops.batch.jobads import MEMORY_SUBCODE, HoldCode
from prodops.constants import JobState


def hold_table() -> dict[int, dict]:
    raw = yaml.safe_load((config.INCLUDE_DIR / "triage" / "facts" / "hold_codes.yaml").read_text())
    return {entry["code"]: entry for entry in raw["hold_codes"]}


def test_each_hold_code_the_local_pool_sets_is_htcondors_by_number_and_name():
    table = hold_table()
    for code in HoldCode:
        camel = "".join(word.capitalize() for word in code.name.split("_"))
        assert table[int(code)]["name"] == camel, code


def test_the_memory_subcode_is_the_tables_memory_subcode_of_job_out_of_resources():
    subcodes = {s["value"]: s for s in hold_table()[int(HoldCode.JOB_OUT_OF_RESOURCES)]["subcodes"]}
    assert subcodes[MEMORY_SUBCODE]["resource"] == "memory"


def test_job_states_follow_the_bindings_job_status_by_name():
    import htcondor2

    assert [JobState.from_job_status(int(s)).name for s in htcondor2.JobStatus] == [s.name for s in htcondor2.JobStatus]
    assert JobState.from_job_status(5) is JobState.HELD and JobState.HELD.is_final
