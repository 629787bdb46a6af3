"""art / LArSoft exception reports: nested ``---- <Category> BEGIN`` ... ``---- <Category> END`` blocks.

cetlib's ``cet::exception::explain_self`` prints an exception as::

    ---- <category> BEGIN
      <message, indented two spaces>
      ---- <inner category> BEGIN       (an exception it wraps, indented once more)
        ...
      ---- <inner category> END
    ---- <category> END

and art's ``printArtException`` wraps it in a message-facility message::

    %MSG-s ArtException:  <module or phase> <date> <context>
    cet::exception caught in art
    ---- ... ----
    %MSG
    Art has completed and will exit with status <N>.

Categories are free text (``Can't find key``, ``Type mismatch``, or a whole sentence), so blocks
are matched by their BEGIN/END lines, not by a category pattern; nesting comes from the order of
the lines (indentation is often lost in copied logs). A tail that starts inside a block (an END
without its BEGIN) or ends inside one (a BEGIN without its END) still yields the blocks it has.

Sources: https://github.com/art-framework-suite/cetlib-except/blob/c611bf5afc9f6d757253653c5eae6ddadeb75be3/cetlib_except/exception.cc
(explain_self), https://github.com/art-framework-suite/art/blob/a05bbb550e05c51b2a410e7b17b8ccde22cf9c2f/art/Utilities/ExceptionMessages.cc
and .../art/Framework/Art/detail/ExitCodePrinter.h at the same commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from prodops.triage.literals import JoinedLines
from prodops.triage.parsers._text import first_text
from prodops.triage.parsers.model import ChainLink, Framework, FrameworkError

_BEGIN, _END = " BEGIN", " END"
_MARK = "---- "
TRIGGERS = (_MARK,)
"""Text without one of these has no report of this format (parse_all skips the parser)."""
MAX_DEPTH = 64
MAX_BLOCKS = 500
MAX_CATEGORY = 300
MAX_BLOCK_LINES = 200
"""Message lines kept per block (a block longer than a tail is someone's data dump)."""
MAX_LOOSE = 60
"""Lines kept before an END whose BEGIN the tail lacks (the start of that block's message)."""

_STATUS_TEXT = "Art has completed and will exit with status"
_STATUS = re.compile(_STATUS_TEXT + r" (-?\d+)")
_MSG_HEADER = re.compile(r"^%MSG-\w\s+[\w:.]+:\s+(\S+)")
_THROUGH_MODULE = re.compile(r"going through module (\S+)")
_ROOT_LOCATION = re.compile(r"^Fatal Root Error:\s*(?:@SUB=)?(\S+)")

BOILERPLATE = (
    "cet::exception going through module", "cet::exception caught in", "Exception going through path",
    "Exception going through module", "EventProcessor: an exception occurred", "An exception occurred during current event",
    "ROOT severity:", "Fatal Root Error:", "Path: ProcessingStopped", "ProcessingStopped.",
)
"""Lines art adds around the message of the code that threw: never the cause."""


@dataclass
class _Block:
    category: str
    begin: int
    group: int
    header: str | None = None
    end: int | None = None
    lines: list[tuple[int, str]] = field(default_factory=list)
    children: list[_Block] = field(default_factory=list)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _norm(category: str) -> str:
    return " ".join(category.split())


def _marked(text: str, suffix: str) -> str | None:
    """The category of a ``---- <category> BEGIN|END`` line, else None."""
    if not text.endswith(suffix):
        return None
    k = text.find(_MARK)
    if k < 0:
        return None
    category = text[k + len(_MARK):len(text) - len(suffix)].strip()
    if not category or len(category) > MAX_CATEGORY or category.startswith("-"):
        return None
    return category


_SPECIAL = ("%MSG", _STATUS_TEXT, _BEGIN, _END)
"""Text a line the scanner does more with than keep must hold (a header, a status, a marker)."""


class _Scanner:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.tops: list[_Block] = []
        self.stack: list[_Block] = []
        self.loose: list[tuple[int, str]] = []
        self.boundary = 0
        self.group: int | None = None
        self.header: str | None = None
        self.count = 0
        self.statuses: list[tuple[int, int]] = []

    def attach(self, block: _Block) -> None:
        (self.stack[-1].children if self.stack else self.tops).append(block)

    def open(self, category: str, index: int) -> None:
        if len(self.stack) >= MAX_DEPTH or self.count >= MAX_BLOCKS:
            self.text(index, self.lines[index])
            return
        self.count += 1
        group = self.group if self.group is not None else index
        self.stack.append(_Block(category=category, begin=index, group=group, header=self.header))

    def close(self, category: str, index: int) -> None:
        wanted = _norm(category)
        for k in range(len(self.stack) - 1, -1, -1):
            if _norm(self.stack[k].category) == wanted:
                while len(self.stack) > k:
                    block = self.stack.pop()
                    block.end = index
                    self.attach(block)
                return
        if self.stack:  # an END that closes nothing open: text of the open block
            self.text(index, self.lines[index])
            return
        # The tail began inside this block: it holds the blocks printed since the last message
        # header that are indented at least as deep as its END, and the loose lines among them.
        depth = _indent(self.lines[index])
        adopted: list[_Block] = []
        for block in reversed(self.tops):
            if block.begin < self.boundary or _indent(self.lines[block.begin]) < depth:
                break
            adopted.insert(0, block)
        if adopted:
            del self.tops[len(self.tops) - len(adopted):]
        texts = [(i, t) for i, t in self.loose if i >= self.boundary]
        begin = min([i for i, _ in texts] + [b.begin for b in adopted] + [index])
        group = self.group if self.group is not None else begin
        self.count += 1
        self.tops.append(_Block(category=category, begin=begin, group=group, header=self.header, end=index,
                                lines=texts, children=adopted))
        self.loose = []

    def text(self, index: int, text: str) -> None:
        if self.stack:
            if len(self.stack[-1].lines) < MAX_BLOCK_LINES:
                self.stack[-1].lines.append((index, text))
        else:
            self.loose.append((index, text))
            if len(self.loose) > 2 * MAX_LOOSE:
                del self.loose[:-MAX_LOOSE]

    def close_all(self, index: int) -> None:
        while self.stack:
            block = self.stack.pop()
            block.end = index
            self.attach(block)

    def scan(self) -> None:
        special = set(JoinedLines(self.lines).holding(*_SPECIAL))
        text = self.text
        for i, raw in enumerate(self.lines):
            if i not in special:
                text(i, raw)  # no header, status or marker: the line is text
                continue
            s = raw.strip()
            if s.startswith("%MSG"):
                if s == "%MSG":  # the end of a message-facility message
                    self.close_all(i - 1 if i else 0)
                    self.group, self.header, self.boundary, self.loose = None, None, i + 1, []
                else:
                    self.close_all(i - 1 if i else 0)
                    self.group, self.header, self.boundary, self.loose = i, s, i, []
                continue
            status = _STATUS.search(s)
            if status:
                self.statuses.append((i, int(status.group(1))))
                continue
            category = _marked(s, _BEGIN)
            if category is None and s.endswith(_BEGIN) and _MARK not in s and i:
                category = self._wrapped_begin(i, s)
                if category is not None:
                    continue
            if category is not None:
                self.open(category, i)
                continue
            category = _marked(s, _END)
            if category is not None:
                self.close(category, i)
                continue
            self.text(i, raw)
        self.close_all(len(self.lines) - 1)

    def _wrapped_begin(self, i: int, s: str) -> str | None:
        """A BEGIN line folded in two (``...:---- <long category``, ``<rest of it> BEGIN``)."""
        prev = self.lines[i - 1].strip()
        k = prev.find(_MARK)
        if k < 0 or prev.endswith((_BEGIN, _END)):
            return None
        category = (prev[k + len(_MARK):].strip() + " " + s[:-len(_BEGIN)].strip()).strip()
        if not category or len(category) > MAX_CATEGORY:
            return None
        holder = self.stack[-1].lines if self.stack else self.loose
        if holder and holder[-1][0] == i - 1:
            holder.pop()
        self.open(category, i - 1)
        return category


def _texts(block: _Block) -> list[tuple[int, str]]:
    return [(i, t.strip()) for i, t in block.lines if t.strip()]


def _substantive(block: _Block) -> list[tuple[int, str]]:
    return [(i, t) for i, t in _texts(block) if not t.startswith(BOILERPLATE)]


def _module(path: list[_Block]) -> str | None:
    for block in reversed(path):
        for _, text in _texts(block):
            m = _THROUGH_MODULE.search(text)
            if m:
                return m.group(1)
    innermost = path[-1]
    for _, text in _texts(innermost):
        m = _ROOT_LOCATION.match(text)
        if m:
            return m.group(1)
    header = path[0].header
    if header:
        m = _MSG_HEADER.match(header)
        if m and ":" in m.group(1):
            return m.group(1)
    return None


def _error(top: _Block, lines: list[str]) -> FrameworkError:
    path = [top]
    while path[-1].children and len(path) < MAX_DEPTH:
        path.append(path[-1].children[0])
    innermost = path[-1]
    cause = None
    for block in reversed(path):
        cause = first_text(_substantive(block))
        if cause is not None:
            break
    if cause is None:
        cause = (innermost.begin, lines[innermost.begin].strip())
    chain = tuple(ChainLink(category=b.category, message=tuple(t for _, t in _texts(b)), line=b.begin) for b in path)
    message = tuple(t for _, t in _substantive(innermost)) or tuple(t for _, t in _texts(innermost))
    end = top.end if top.end is not None else top.begin
    return FrameworkError(
        framework=Framework.ART, categories=tuple(b.category for b in path), message=message,
        cause_line=cause[0], cause=cause[1], start=top.begin, end=max(end, top.begin), module=_module(path),
        chain=chain, group=top.group,
    )


def parse(lines: list[str]) -> list[FrameworkError]:
    """Every top-level art exception block in ``lines``, with its chain followed to the innermost."""
    scanner = _Scanner(lines)
    scanner.scan()
    errors: list[FrameworkError] = []
    for top in sorted(scanner.tops, key=lambda b: b.begin):
        err = _error(top, lines)
        status = next((code for i, code in scanner.statuses if i > err.end), None)
        errors.append(replace(err, exit_status=status) if status is not None else err)
    return errors
