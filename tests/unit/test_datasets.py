"""Input datasets resolve to files with event counts, or say why not."""

from __future__ import annotations

import pytest

from prodops.datasets import DatasetInvalid, dataset_error, resolve_dataset


def test_file_dataset_resolves_sorted_with_event_counts(tmp_path):
    for name, lines in [("b.raw", 3), ("a.raw", 2)]:
        (tmp_path / name).write_text("".join(f"ev{i}\n" for i in range(lines)))
    files = resolve_dataset(f"file://{tmp_path}/*.raw")
    assert [(f.path.rsplit("/", 1)[1], f.events) for f in files] == [("a.raw", 2), ("b.raw", 3)]


@pytest.mark.parametrize(("name", "message"), [("sam:nova_raw", "SAM service"), ("file://relative/*.raw", "absolute")])
def test_unusable_dataset_names_are_explained(name, message):
    assert message in dataset_error(name)
    with pytest.raises(DatasetInvalid, match=message):
        resolve_dataset(name)


def test_empty_glob_is_an_error(tmp_path):
    with pytest.raises(DatasetInvalid, match="matches no file"):
        resolve_dataset(f"file://{tmp_path}/*.raw")
