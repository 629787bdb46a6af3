"""One backend switch (issue 14 item 7): ``PRODOPS_BATCH_BACKEND``, read by ``config.batch_backend`` only,
and the README says so once, without a second story."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prodops import config
from prodops.batch.registry import get_backend

REPO = Path(__file__).resolve().parents[3]


def test_the_switch_is_read_in_one_place_in_code():
    readers = [path.relative_to(REPO).as_posix()
               for folder in ("plugins", "dags") for path in (REPO / folder).rglob("*.py")
               if "PRODOPS_BATCH_BACKEND" in path.read_text()]
    assert readers == ["plugins/prodops/config.py"]


def test_the_readme_states_the_switch_once_and_nothing_contradicts_it():
    readme = (REPO / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `PRODOPS_BATCH_BACKEND`")]
    assert len(rows) == 1 and "`local`" in rows[0] and "`htcondor`" in rows[0]
    assert not re.search(r"still uses the local pool|`BACKEND` in the DAG", readme)


@pytest.mark.parametrize("value,name", [(None, "local"), ("local", "local"), ("htcondor", "htcondor")])
def test_the_switch_names_a_registered_backend(monkeypatch, value, name):
    if value is None:
        monkeypatch.delenv("PRODOPS_BATCH_BACKEND", raising=False)
    else:
        monkeypatch.setenv("PRODOPS_BATCH_BACKEND", value)
    assert config.batch_backend() == name
    assert get_backend(config.batch_backend()).name == name


def test_an_unknown_backend_is_refused_naming_the_known_ones(monkeypatch):
    monkeypatch.setenv("PRODOPS_BATCH_BACKEND", "slurm")
    with pytest.raises(ValueError, match="unknown batch backend 'slurm'; known: htcondor, local"):
        get_backend(config.batch_backend())
