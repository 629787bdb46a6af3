"""Input datasets resolve to files with event counts inside the dataset roots, or say why not."""

from __future__ import annotations

import os

import pytest

from prodops.datasets import DatasetInvalid, dataset_error, resolve_dataset


@pytest.fixture(autouse=True)
def roots(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("PRODOPS_DATASET_ROOTS", str(root))
    return root


def test_file_dataset_resolves_sorted_with_event_counts(roots):
    for name, lines in [("b.raw", 3), ("a.raw", 2)]:
        (roots / name).write_text("".join(f"ev{i}\n" for i in range(lines)))
    files = resolve_dataset(f"file://{roots}/*.raw")
    assert [(f.path.rsplit("/", 1)[1], f.events) for f in files] == [("a.raw", 2), ("b.raw", 3)]


@pytest.mark.parametrize(("name", "message"), [("sam:nova_raw", "SAM service"), ("file://relative/*.raw", "absolute")])
def test_unusable_dataset_names_are_explained(name, message):
    assert message in dataset_error(name)
    with pytest.raises(DatasetInvalid, match=message):
        resolve_dataset(name)


def test_empty_glob_is_an_error(roots):
    with pytest.raises(DatasetInvalid, match="matches no file"):
        resolve_dataset(f"file://{roots}/*.raw")


@pytest.mark.parametrize("name", ["file:///etc/*", "file:///etc/passwd", "file:///*"])
def test_a_path_outside_the_roots_is_refused_naming_the_roots(name, roots):
    problem = dataset_error(name)
    assert "outside the dataset roots" in problem and str(roots) in problem
    with pytest.raises(DatasetInvalid, match="PRODOPS_DATASET_ROOTS"):
        resolve_dataset(name)


def test_dot_dot_cannot_climb_out_of_a_root(roots):
    assert "'..' is not allowed" in dataset_error(f"file://{roots}/../../etc/*")


def test_a_symlinked_directory_leading_out_is_refused(roots, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "x.raw").write_text("ev\n")
    os.symlink(outside, roots / "link")
    assert "outside the dataset roots" in dataset_error(f"file://{roots}/link/*.raw")


def test_a_symlinked_file_leading_out_is_refused(roots, tmp_path):
    (tmp_path / "secret.raw").write_text("ev\n")
    (roots / "ok.raw").write_text("ev\n")
    os.symlink(tmp_path / "secret.raw", roots / "leak.raw")
    assert dataset_error(f"file://{roots}/*.raw") is None  # the glob itself is inside
    with pytest.raises(DatasetInvalid, match="symlink leads out"):
        resolve_dataset(f"file://{roots}/*.raw")


def test_a_file_name_with_macro_syntax_is_refused_by_name(roots):
    (roots / "run$ENV(HOME).raw").write_text("ev\n")
    with pytest.raises(DatasetInvalid, match=r"run\$ENV\(HOME\)\.raw.*macro syntax"):
        resolve_dataset(f"file://{roots}/*.raw")


def test_roots_come_from_include_datasets_yaml_without_the_setting(monkeypatch):
    from prodops import config

    monkeypatch.delenv("PRODOPS_DATASET_ROOTS")
    assert config.dataset_roots() == ((config.REPO_ROOT / ".local/prodops/datasets").resolve(),)
