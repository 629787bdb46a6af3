"""Backends by name: a submission row names its backend, tracking finds it here."""

from __future__ import annotations

from prodops.batch.base import Backend


def get_backend(name: str) -> Backend:
    if name == "local":
        from prodops.batch.local import LocalPoolBackend

        return LocalPoolBackend()
    raise ValueError(f"unknown batch backend {name!r}; use 'local' (the HTCondor backend is not configured)")
