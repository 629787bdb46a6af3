"""What the pattern library reads in a tool's line: the helpers of the family tests (test_families_*.py).

Each family test gives lines in a source's own words and checks the best match's reading (pattern
id, category, service, retryable, resource) or that a family's patterns stay away from a line.
"""

from __future__ import annotations

from collections.abc import Sequence

from prodops.triage.patterns import Match, Pattern, load_library


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
