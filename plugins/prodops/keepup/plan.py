"""What the follower does with a campaign's files, as pure functions: which are new, and which
batches go now within the day's cap of jobs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

T = TypeVar("T")


def new_files(listed: Iterable[str], claimed: Collection[str]) -> list[str]:
    """The listed files not claimed yet, each once, in the dataset's order (the detector's)."""
    seen: set[str] = set()
    fresh = []
    for name in listed:
        if name not in claimed and name not in seen:
            seen.add(name)
            fresh.append(name)
    return fresh


@dataclass(frozen=True)
class Plan(Generic[T]):
    """The batches that go now, the jobs each makes, and how many files wait for the cap."""

    batches: tuple[tuple[T, ...], ...]
    jobs: tuple[int, ...]
    waiting: int

    @property
    def total_jobs(self) -> int:
        return sum(self.jobs)


def plan_batches(files: Sequence[T], per_request: int, room: int, jobs_of: Callable[[int], int]) -> Plan[T]:
    """Cut ``files`` into batches of ``per_request`` in order while their jobs fit in ``room``.

    ``jobs_of(n)`` is the jobs a request of ``n`` files makes (every stage; it grows with ``n``).
    The batch that does not fit whole is cut to the most files that fit; the files after it wait,
    so a later file never goes before an earlier one.
    """
    if per_request < 1:
        raise ValueError(f"files per request must be at least 1, got {per_request}")
    batches: list[tuple[T, ...]] = []
    jobs: list[int] = []
    start = 0
    while start < len(files):
        batch = tuple(files[start : start + per_request])
        size = len(batch)
        while size and jobs_of(size) > room:
            size -= 1
        if size:
            batches.append(batch[:size])
            jobs.append(jobs_of(size))
            room -= jobs[-1]
            start += size
        if size < len(batch):
            break
    return Plan(batches=tuple(batches), jobs=tuple(jobs), waiting=len(files) - start)


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: the cap counts the jobs of batches claimed since then."""
    utc = now.astimezone(timezone.utc)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)
