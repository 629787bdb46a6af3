"""Output manifests: what each job declares it read and wrote, checked against the files.

A job writes ``manifest_<step>_<job>.json`` next to its outputs::

    {"schema": 1, "stage": "reco", "job": 3, "inputs": ["/abs/path/in.dat"],
     "outputs": [{"file": "reco_3.dat", "size": 1234, "checksum": "adler32:0a1b2c3d", "events": 50}]}

Output names are relative to the job's working directory. prodops reads manifests only from
the submission's own workdir (from its database record), never from a path a user typed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodops.exceptions import ProdopsError

_NAME = re.compile(r"^manifest_[A-Za-z0-9_]+_(\d+)\.json$")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9_.+-]+$")


class ManifestInvalid(ProdopsError):
    """A job's manifest is unreadable or malformed."""


@dataclass(frozen=True)
class OutputFile:
    proc_id: int
    file: str
    path: str
    size: int
    checksum: str | None
    events: int | None
    readable: bool
    """The file exists with the declared size and checksum."""


@dataclass(frozen=True)
class JobManifest:
    proc_id: int
    inputs: tuple[str, ...]
    outputs: tuple[OutputFile, ...]


def adler32(path: Path) -> str:
    value = 1
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            value = zlib.adler32(chunk, value)
    return f"adler32:{value:08x}"


def _verify(path: Path, size: int, checksum: str | None) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        return checksum is None or not checksum.startswith("adler32:") or adler32(path) == checksum
    except OSError:
        return False


def parse_manifest(path: Path, workdir: Path) -> JobManifest:
    """Read one manifest; raise :class:`ManifestInvalid` naming the file and the field."""
    match = _NAME.match(path.name)
    if not match:
        raise ManifestInvalid(f"{path.name}: manifests are named manifest_<stage>_<job>.json")
    try:
        raw: Any = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ManifestInvalid(f"{path}: not readable JSON ({err}); the job must write it whole") from None
    if not isinstance(raw, dict) or raw.get("schema") != 1:
        raise ManifestInvalid(f"{path}: field schema must be 1")
    proc = int(match[1])
    if raw.get("job") != proc:
        raise ManifestInvalid(f"{path}: field job is {raw.get('job')!r} but the file name says job {proc}")
    inputs = raw.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ManifestInvalid(f"{path}: field inputs must be a list of file paths")
    outputs = []
    for n, out in enumerate(raw.get("outputs") or []):
        where = f"{path}: outputs[{n}]"
        if not isinstance(out, dict):
            raise ManifestInvalid(f"{where} must be an object with file, size, checksum, events")
        name = out.get("file")
        if not isinstance(name, str) or not _SAFE_FILE.match(name):
            raise ManifestInvalid(f"{where}.file {name!r} must be a plain file name in the job's directory")
        size, events = out.get("size"), out.get("events")
        if not isinstance(size, int) or size < 0:
            raise ManifestInvalid(f"{where}.size {size!r} must be a byte count")
        if events is not None and (not isinstance(events, int) or events < 0):
            raise ManifestInvalid(f"{where}.events {events!r} must be a non-negative count")
        checksum = out.get("checksum")
        file_path = workdir / name
        outputs.append(OutputFile(proc, name, str(file_path), size, checksum, events, _verify(file_path, size, checksum)))
    return JobManifest(proc_id=proc, inputs=tuple(inputs), outputs=tuple(outputs))


def collect(workdir: Path, procs: Iterable[int]) -> tuple[list[JobManifest], dict[int, str]]:
    """Manifests of the given jobs, and a problem per job whose manifest is missing or bad."""
    wanted = set(procs)
    manifests: list[JobManifest] = []
    problems: dict[int, str] = {}
    found: set[int] = set()
    for path in sorted(workdir.glob("manifest_*_*.json")):
        match = _NAME.match(path.name)
        if not match or int(match[1]) not in wanted:
            continue
        found.add(int(match[1]))
        try:
            manifests.append(parse_manifest(path, workdir))
        except ManifestInvalid as err:
            problems[int(match[1])] = str(err)
    for proc in sorted(wanted - found):
        problems[proc] = f"job {proc} wrote no manifest in {workdir}"
    return manifests, problems
