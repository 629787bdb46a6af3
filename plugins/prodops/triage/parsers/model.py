"""What a parser of a framework report returns: one :class:`FrameworkError` per report found."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Framework(str, enum.Enum):
    """The report formats prodops reads structurally (one parser module each)."""

    ART = "art"
    """art / LArSoft ``---- Category BEGIN`` ... ``---- Category END`` blocks."""
    CMSSW = "cmssw"
    """CMSSW ``----- Begin Fatal Exception`` / ``An exception of category 'X' occurred``."""
    GEANT4 = "geant4"
    """Geant4 ``G4Exception-START`` ... ``G4Exception-END`` with code and issuer."""
    PYTHON = "python"
    """Python tracebacks, chained, with the cause a client library wrapped."""
    CXX = "cxx"
    """C++ ``terminate called after throwing an instance of 'X'`` + ``what():``."""
    CRASH = "crash"
    """Crash reports of a fatal signal: stacks with ``<signal handler called>``, crashed modules."""
    ROOT = "root"
    """ROOT ``Error|SysError|Fatal in <location>: message``."""


@dataclass(frozen=True, kw_only=True)
class ChainLink:
    """One exception of a chain: its category (or type, or code) and its own message."""

    category: str
    message: tuple[str, ...] = ()
    line: int | None = None
    """Index, in the parser's input, of the line that opens this exception."""
    code: str | None = None
    """A status the message states (an HTTP status such as ``"401"``), when there is one."""


@dataclass(frozen=True, kw_only=True)
class FrameworkError:
    """One framework report found in a list of log lines.

    Line numbers are indexes into the list given to the parser (``parse_all(lines)``).
    """

    framework: Framework
    categories: tuple[str, ...]
    """Exception categories, outermost first (art ``OtherArt -> ... -> TPCGeo``; a Geant4
    report is ``("G4Exception", <code>)``; a crash is ``(<signal>,)``)."""
    message: tuple[str, ...]
    """The innermost exception's message lines (stripped, blank lines dropped)."""
    cause_line: int
    """Index of the line a person would name as the cause (see :attr:`cause`)."""
    cause: str
    """That line's text, stripped."""
    start: int
    """Index of the report's first line."""
    end: int
    """Index of the report's last line (inclusive)."""
    module: str | None = None
    """The module, issuer or location named: art/CMSSW module, Geant4 issuer, ROOT location,
    the crashed module, the innermost Python frame."""
    chain: tuple[ChainLink, ...] = ()
    """The exceptions with their messages, outermost first (same order as :attr:`categories`)."""
    severity: str | None = None
    """Geant4 severity (FatalException ... JustWarning), ROOT level (Error, SysError, Fatal),
    or the words a crash report used for the signal."""
    code: str | None = None
    """Geant4 exception code, or the HTTP status a Python exception states."""
    exit_status: int | None = None
    """The exit status the report announces (art "will exit with status N", CMSSW "Exit code: N")."""
    details: tuple[str, ...] = ()
    """Context a person may want next: CMSSW context and Additional Info lines, Geant4 track
    information, the frames around a crash."""
    group: int = -1
    """First line of the report's group: art blocks printed in one ``%MSG`` message share it
    (siblings are ordered by :attr:`start` inside it). Defaults to :attr:`start`."""
    nested: bool = False
    """Inside another report's lines (a G4Exception in a CMSSW exception message): more specific."""

    @property
    def category(self) -> str:
        """The innermost category."""
        return self.categories[-1] if self.categories else ""

    @property
    def is_warning(self) -> bool:
        """A report of something that did not end the job (a Geant4 JustWarning)."""
        return self.severity == "JustWarning"
