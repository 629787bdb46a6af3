"""Control requests to the local pool: read and checked, and what each action does to a job by its
status, as a schedd decides (no process is started)."""

from __future__ import annotations

import json
import re

import pytest
from htcondor2 import JobStatus

from prodops.batch.base import JobAction
from prodops.batch.local.control import ControlRequest, ControlRequestInvalid, Step, read_request, step
from prodops.batch.workdir import Workdir

HOLD, RELEASE, REMOVE = JobAction.HOLD, JobAction.RELEASE, JobAction.REMOVE


@pytest.mark.parametrize(("action", "status", "running", "expected"), [
    (HOLD, JobStatus.RUNNING, True, Step.STOP_TO_HOLD),
    (HOLD, JobStatus.IDLE, False, Step.HOLD),
    (HOLD, JobStatus.HELD, False, Step.NOTHING),
    (HOLD, JobStatus.COMPLETED, False, Step.NOTHING),
    (HOLD, JobStatus.REMOVED, False, Step.NOTHING),
    (RELEASE, JobStatus.HELD, False, Step.RELEASE),
    (RELEASE, JobStatus.IDLE, False, Step.NOTHING),
    (RELEASE, JobStatus.RUNNING, True, Step.NOTHING),
    (RELEASE, JobStatus.COMPLETED, False, Step.NOTHING),
    (REMOVE, JobStatus.RUNNING, True, Step.STOP_TO_REMOVE),
    (REMOVE, JobStatus.IDLE, False, Step.REMOVE),
    (REMOVE, JobStatus.HELD, False, Step.REMOVE),
    (REMOVE, JobStatus.COMPLETED, False, Step.NOTHING),
    (REMOVE, JobStatus.REMOVED, False, Step.NOTHING),
])
def test_what_an_action_does_to_a_job_follows_its_status(action, status, running, expected):
    assert step(action, status, running) is expected


def test_a_request_the_backend_queued_reads_back(tmp_path):
    workdir = Workdir(tmp_path)
    path = workdir.add_request("Hold", [0, 3], "")
    request = read_request(path)
    assert request == ControlRequest(HOLD, (0, 3), "") and request.reason_or_default == "via condor_hold"
    assert read_request(workdir.add_request("Remove", None, "by prodops")).procs is None


@pytest.mark.parametrize(("body", "says"), [
    ("{not json", "not a readable JSON request"),
    ("[1, 2]", "a request is an object"),
    (json.dumps({"action": "Suspend", "procs": None}), "action = 'Suspend' is not one of Hold, Release, Remove"),
    (json.dumps({"action": "Hold", "procs": ["0"]}), "procs = ['0'] is not a list of proc ids"),
    (json.dumps({"action": "Hold", "procs": [-1]}), "procs = [-1] is not a list of proc ids"),
])
def test_a_bad_request_is_refused_naming_its_file_and_field(tmp_path, body, says):
    path = tmp_path / "0001-bad.json"
    path.write_text(body)
    with pytest.raises(ControlRequestInvalid, match=re.escape(says)) as err:
        read_request(path)
    assert str(err.value).startswith("0001-bad.json: ")
