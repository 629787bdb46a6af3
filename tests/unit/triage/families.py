"""What triage reads in a tool's words: the helpers of the family tests (test_families_*.py).

Each family test gives lines in a source's own words and checks the best match's reading (pattern
id, category, service, retryable, resource), that a family's patterns stay away from a line, or
the whole verdict on a job whose stderr holds the lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from prodops.triage.classify import Classifier
from prodops.triage.patterns import Match, Pattern, load_library
from prodops.triage.plugins import PluginRunner
from prodops.triage.tail import EVENTLOG, STDERR, STDOUT, JobTail, Tail
from prodops.triage.verdict import JobFacts, Verdict


def best_match(lines: str | Sequence[str], stream: str = "stderr", source: str = "") -> Match:
    """The library's best match of ``lines`` (one line or several) in ``stream``; a test fails naming
    the lines and ``source`` (where the wording comes from) when nothing matches."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    matches = load_library().match({stream: lines})
    assert matches, f"nothing matched {lines!r} ({source})"
    return matches[0]


def best_pattern(lines: str | Sequence[str], stream: str = "stderr", source: str = "") -> Pattern:
    """The pattern of :func:`best_match`."""
    return best_match(lines, stream, source).pattern


def matched_ids(lines: str | Sequence[str], stream: str = "stderr") -> set[str]:
    """The ids of every pattern matching ``lines`` in ``stream``."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    return {m.pattern.id for m in load_library().match({stream: lines})}


def classify_stderr(stderr: Sequence[str], *, experiment: str, exit_code: int) -> Verdict:
    """The verdict (library and framework reports, no plugins) on a completed job whose stderr ends
    with ``stderr``; its stdout and event log are empty."""

    def tail(lines: Sequence[str], stream: str) -> Tail:
        return Tail(stream=stream, path=f"/w/{stream}", lines=list(lines), status="ok" if lines else "empty",
                    first_line=1)

    job = JobFacts(submission_id=1, proc_id=0, cluster_id=1, experiment=experiment, state="completed",
                   exit_code=exit_code)
    [verdict] = Classifier(load_library(), PluginRunner([])).classify(
        [(job, JobTail(stdout=tail([], STDOUT), stderr=tail(stderr, STDERR), eventlog=tail([], EVENTLOG)))])
    return verdict
