"""Backends by name: a submission row names its backend, tracking finds it here."""

from __future__ import annotations

from collections.abc import Callable

from prodops.batch.base import Backend


def _local() -> Backend:
    from prodops.batch.local import LocalPoolBackend

    return LocalPoolBackend()


def _htcondor() -> Backend:
    """The pool of the Airflow connection ``htcondor_default`` (or ``PRODOPS_HTCONDOR_CONN_ID``)."""
    from prodops.batch.htcondor import HTCondorBackend

    return HTCondorBackend()


_FACTORIES: dict[str, Callable[[], Backend]] = {"local": _local, "htcondor": _htcondor}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make a backend available by name (e.g. a site's own, or a test double)."""
    _FACTORIES[name] = factory


def get_backend(name: str) -> Backend:
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown batch backend {name!r}; known: {', '.join(sorted(_FACTORIES))}") from None
    return factory()
