"""Failure signatures: one line with its variable parts masked, so a thousand jobs failing the
same new way are one group on the triage page.

Masking is deterministic (no model to train, the same line gives the same signature in every
process and every release of the table below): URLs, paths, hosts, addresses, ids, hex,
numbers and quoted values become placeholders; what remains is the message's template.
"""

from __future__ import annotations

import functools
import hashlib
import re

_MASKS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple((re.compile(p), r, need) for p, r, need in (
    (r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", "<time>", ":"),
    (r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})? \d\d:\d\d:\d\d\b", "<time>", ":"),
    (r"\b\d{1,2}:\d\d:\d\d(?:\.\d+)?\b", "<time>", ":"),
    (r"\b[a-z][a-z0-9+.-]*://\S+", "<url>", "://"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>", "-"),
    (r"(?<![\w.])(?:/[\w.@%+=:,~-]+)+/?", "<path>", "/"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>", "."),
    (r"\bslot\d+(?:_\d+)?@", "<slot>@", "@"),
    (r"\b(?:[a-zA-Z0-9-]+\.)+(?:gov|edu|org|com|net|ch|de|it|uk|fr|es|nl|io|local)(?::\d+)?\b", "<host>", "."),
    (r"\b0x[0-9a-fA-F]+\b", "<hex>", "0x"),
    (r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b", "<hex>", ""),
    (r"(?<![A-Za-z0-9])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "<n>", ""),
))
"""(pattern, placeholder, text the pattern cannot match without; "" for a digit). A placeholder
adds none of these, so a mask whose text is missing is skipped without running its regex."""
_DIGIT = re.compile(r"\d")
_SPACE = re.compile(r"\s+")
MAX_CHARS = 240


@functools.lru_cache(maxsize=1 << 16)
def normalize(line: str) -> str:
    """``line`` with every variable part masked, whitespace collapsed, at most 240 characters.

    Cached: the jobs of one failure mostly name the same line."""
    text = line.strip()
    for pattern, placeholder, need in _MASKS:
        if (need in text) if need else _DIGIT.search(text) is not None:
            text = pattern.sub(placeholder, text)
    return _SPACE.sub(" ", text)[:MAX_CHARS]


def signature(rule: str, line: str | None) -> str:
    """The group key of a verdict: its rule and its evidence line's template, as 12 hex digits."""
    key = f"{rule}\n{normalize(line or '')}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]
