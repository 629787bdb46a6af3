"""Output manifests: parsing, verification against the files, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodops.quality.manifests import ManifestInvalid, adler32, collect, parse_manifest


def write_job(workdir: Path, index: int, content: str = "e1\ne2\n", **override) -> Path:
    job = index
    out = workdir / f"reco_{job}.dat"
    out.write_text(content)
    entry = {"file": out.name, "size": out.stat().st_size, "checksum": adler32(out), "events": 2}
    manifest = {"schema": 1, "stage": "reco", "job": job, "inputs": [f"/data/in_{job}.dat"], "outputs": [entry]}
    for key, value in override.items():
        (entry if key in entry else manifest)[key] = value
    path = workdir / f"manifest_reco_{job}.json"
    path.write_text(json.dumps(manifest))
    return path


def test_good_manifest_is_read_and_verified(tmp_path):
    manifest = parse_manifest(write_job(tmp_path, 3), tmp_path)
    assert manifest.proc_id == 3 and manifest.inputs == ("/data/in_3.dat",)
    (out,) = manifest.outputs
    assert (out.file, out.events, out.readable) == ("reco_3.dat", 2, True)
    assert out.path == str(tmp_path / "reco_3.dat")


def test_a_file_that_does_not_match_its_manifest_is_not_readable(tmp_path):
    write_job(tmp_path, 1, checksum="adler32:00000000")
    assert parse_manifest(tmp_path / "manifest_reco_1.json", tmp_path).outputs[0].readable is False
    write_job(tmp_path, 2, size=999)
    assert parse_manifest(tmp_path / "manifest_reco_2.json", tmp_path).outputs[0].readable is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"job": 7}, "field job is 7 but the file name says job 0"),
        ({"schema": 2}, "field schema must be 1"),
        ({"file": "../../etc/passwd"}, r"outputs\[0\].file '../../etc/passwd' must be a plain file name"),
        ({"size": -1}, r"outputs\[0\].size -1 must be a byte count"),
        ({"events": "many"}, r"outputs\[0\].events 'many' must be a non-negative count"),
        ({"inputs": "a,b"}, "field inputs must be a list"),
    ],
)
def test_bad_manifest_names_the_field(tmp_path, override, message):
    with pytest.raises(ManifestInvalid, match=message):
        parse_manifest(write_job(tmp_path, 0, **override), tmp_path)


def test_collect_reports_missing_and_bad_manifests_per_job(tmp_path):
    write_job(tmp_path, 0)
    write_job(tmp_path, 1, size="big")
    write_job(tmp_path, 9)  # not one of the jobs asked for
    manifests, problems = collect(tmp_path, [0, 1, 2])
    assert [m.proc_id for m in manifests] == [0]
    assert set(problems) == {1, 2}
    assert "wrote no manifest" in problems[2] and "size" in problems[1]
