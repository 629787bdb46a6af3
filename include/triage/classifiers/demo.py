"""Classifier plugin for the demo workflows (include/jobs/demo_job.py): the model for experiments' own.

The demo job says so when a request told it to fail (``--exit N``, ``--signal N``): that is
the job's own doing, a code failure, not something a retry can fix. Any other failure of a
demo job, and every job of other workflows, is left to the pattern library (``None``).

A plugin module defines ``classify(facts, tail)``; ``EXPERIMENTS`` (optional) limits it to
some experiments, ``ID`` names it in verdicts (``plugin:<ID>``) and logs.
"""

from __future__ import annotations

import re

from prodops.triage.verdict import PluginVerdict

ID = "demo"
EXPERIMENTS = None  # the demo workflows run for any experiment
WORKFLOWS = ("demo", "demo-grid")
_TOLD = re.compile(r"^(failing with exit code \d+|killing myself with signal \d+)$")


def classify(facts, tail):
    """Code failure when the demo job was told to fail; abstain otherwise."""
    if facts.workflow not in WORKFLOWS:
        return None
    for index, line in reversed(tail.stderr.last_lines(5)):  # it says so at the very end; decode only those
        if _TOLD.match(line):
            return PluginVerdict(category="code", rule="told-to-fail", evidence=(("stderr", index),),
                                 explain=f"The demo job was told to fail by its request ({line}).", confidence=0.95)
    return None
