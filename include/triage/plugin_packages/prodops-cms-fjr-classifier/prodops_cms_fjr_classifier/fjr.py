"""Find and read the framework job report (FJR) a CMSSW job left in its working directory.

**Where**: next to the job's stdout (the submission's workdir, where prodops reads the tails),
under a fixed name with the job's ProcId, first found wins: ``FrameworkJobReport-<ProcId>.xml``,
``Report.<ProcId>.xml``, then the shared ``FrameworkJobReport.xml`` (WMCore's name for the
cmsRun step, ``WMSpec/Steps/Templates/CMSSW.py``). Every job of a submission shares its workdir,
so the shared name is read only when the file was written during this job's run.

**How**: only regular files (``O_NOFOLLOW``, ``O_NONBLOCK``: a symlink or a FIFO planted in the
workdir is refused without blocking), at most ``max_bytes`` parsed whole; a larger report is
read only in its last MiB. XML is parsed with the standard library's expat, and a document with a
DOCTYPE or an entity declaration is refused (FJRs have none; it is how XML bombs and external
entities come in). A report that does not parse whole (a job killed while cmsRun wrote it, or the
end of a large one) is read as fragments: each ``<FrameworkError ...>...</FrameworkError>`` alone.

**What**: the ``<FrameworkError ExitStatus="N" Type="T">`` elements with their text (the
exception report, in CDATA), ``<ShutdownSignal/>``, and ``<ExitCode Value="N"/>``. cmsRun writes
them in ``edm::JobReport::reportError`` / ``reportShutdownSignal``
(https://github.com/cms-sw/cmssw/blob/a28729eb716988c7a40453be6368d11725569272/FWCore/MessageLogger/src/JobReport.cc);
WMCore reads them in ``FwkJobReport/XMLParser.py`` (``errorHandler``: ExitStatus default 8001,
Type default CMSException) and writes a bootstrap failure as ``<FrameworkError
Type="BootstrapError">`` with ``<ExitCode Value="N"/>`` (``WMRuntime/Unpacker.py``), both at
https://github.com/dmwm/WMCore/tree/16a70a1e17939e45d6003edde221cd2a0d0aa56c/src/python/WMCore.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from xml.parsers import expat

from prodops.triage.verdict import JobFacts

from prodops_cms_fjr_classifier.settings import TAIL_BYTES, FjrSettings

log = logging.getLogger(__name__)

SHARED_NAME = "FrameworkJobReport.xml"
MAX_ERRORS = 20
MAX_TEXT_CHARS = 64 << 10
"""An error's text beyond this is cut: a report longer than a tail is someone's data dump."""
_FRAGMENT = re.compile(r"<FrameworkError\b[^>]*>.*?</FrameworkError\s*>", re.S)
_EXIT_CODE = re.compile(r"<ExitCode\s+Value\s*=\s*\"(-?\d+)\"")


class ReportRefused(ValueError):
    """An FJR that is not plain XML (a DOCTYPE or an entity declaration): not read."""


def report_names(proc_id: int) -> tuple[str, ...]:
    """The names looked for, in order: the job's own reports, then the shared name."""
    if isinstance(proc_id, bool) or not isinstance(proc_id, int) or proc_id < 0:
        raise ValueError(f"proc_id={proc_id!r} is not a job number (an integer >= 0)")
    return (f"FrameworkJobReport-{proc_id}.xml", f"Report.{proc_id}.xml", SHARED_NAME)


@dataclass(frozen=True)
class FjrError:
    """One ``<FrameworkError>``: cmsRun's (or the wrapper's) exit status, its type, its report text."""

    exit_status: int | None
    type: str
    text: str

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.text.strip("\n").splitlines()]


@dataclass(frozen=True)
class FjrReport:
    path: str
    errors: tuple[FjrError, ...]
    shutdown_signal: bool = False
    exit_code: int | None = None
    """``<ExitCode Value>``: the wrapper's code, in WMCore's bootstrap-failure report."""
    whole: bool = True
    """Parsed as one document (False: read as fragments, the report being cut or too large)."""

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def parse_xml(data: bytes) -> ET.Element:
    """An element tree from ``data`` with expat; :class:`ReportRefused` for DTDs and entities."""

    def refuse(*_args: object) -> None:
        raise ReportRefused("the report declares a DOCTYPE or entities; FJRs have none, so it is not read")

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.Parse(data, True)
    return builder.close()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _error(element: ET.Element) -> FjrError:
    text = "".join(element.itertext())
    return FjrError(exit_status=_int(element.get("ExitStatus")), type=(element.get("Type") or "").strip(),
                    text=text[:MAX_TEXT_CHARS])


def _from_tree(root: ET.Element, path: str) -> FjrReport:
    errors = tuple(_error(e) for _, e in zip(range(MAX_ERRORS), root.iter("FrameworkError")))
    code = next((_int(e.get("Value")) for e in root.iter("ExitCode")), None)
    return FjrReport(path=path, errors=errors, shutdown_signal=next(root.iter("ShutdownSignal"), None) is not None,
                     exit_code=code)


def _from_fragments(data: bytes, path: str) -> FjrReport:
    text = data.decode("utf-8", "replace")
    errors: list[FjrError] = []
    for match in _FRAGMENT.finditer(text):
        try:
            errors.append(_error(parse_xml(match.group(0).encode())))
        except (expat.ExpatError, ReportRefused):
            continue  # an entity or a broken element: skip this one, keep the others
        if len(errors) >= MAX_ERRORS:
            break
    code = _EXIT_CODE.search(text)
    return FjrReport(path=path, errors=tuple(errors), shutdown_signal="<ShutdownSignal" in text,
                     exit_code=int(code.group(1)) if code else None, whole=False)


def parse_report(data: bytes, path: str, *, complete: bool = True) -> FjrReport | None:
    """The report's errors; ``complete`` False when ``data`` is only the end of the file. None when refused."""
    if complete:
        try:
            return _from_tree(parse_xml(data), path)
        except ReportRefused as err:
            log.warning("Not reading %s: %s", path, err)
            return None
        except expat.ExpatError:
            pass  # cut short (the job died while cmsRun wrote it): read what it has
    return _from_fragments(data, path)


def _read(path: str, settings: FjrSettings) -> tuple[bytes, bool, float] | None:
    """(data, whole file, mtime) of a regular file, bounded; None when absent or refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as err:
        log.warning("Not reading the job report %s: %s (only regular files in the workdir are read)", path,
                    err.strerror)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            log.warning("Not reading the job report %s: not a regular file", path)
            return None
        whole = st.st_size <= settings.max_bytes
        start = 0 if whole else st.st_size - TAIL_BYTES
        want = st.st_size - start
        chunks, got = [], 0
        while got < want:
            chunk = os.pread(fd, want - got, start + got)
            if not chunk:
                break  # truncated under us
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks), whole, st.st_mtime
    except OSError as err:
        log.warning("Could not read the job report %s: %s", path, err.strerror)
        return None
    finally:
        os.close(fd)


def _utc(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _written_during(mtime: float, facts: JobFacts, slack_s: int) -> bool:
    if facts.started is not None and mtime < _utc(facts.started) - slack_s:
        return False
    return facts.ended is None or mtime <= _utc(facts.ended) + slack_s


def find_report(directory: str, facts: JobFacts, settings: FjrSettings) -> FjrReport | None:
    """The job's report in ``directory`` (its stdout's), read and parsed; None when there is none."""
    for name in report_names(facts.proc_id):
        path = os.path.join(directory, name)
        got = _read(path, settings)
        if got is None:
            continue
        data, whole, mtime = got
        if name == SHARED_NAME and not _written_during(mtime, facts, settings.slack_s):
            log.debug("Not using %s for job %s: written outside its run", path, facts.job)
            continue
        return parse_report(data, path, complete=whole)
    return None
