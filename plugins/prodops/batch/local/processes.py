"""The local pool's process sessions: each job's process tree, its memory and CPU, its disk.

Measured the way a startd does between its updates: one scan of the process table for every
job, each job's session summed; a job's session is killed whole.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Sequence

import classad2
import psutil

from prodops.batch.eventlog import Usage


def kill_session(pid: int) -> None:
    """SIGKILL the job's whole session (it was started as its leader); gone already is fine."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def process_trees(roots: Sequence[int]) -> dict[int, list[int]]:
    """Each root pid with its descendants, from one scan of the process table for all jobs."""
    if not roots:
        return {}
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    trees = {}
    for root in roots:
        tree, stack = [root], [root]
        while stack:
            for child in children.get(stack.pop(), []):
                tree.append(child)
                stack.append(child)
        trees[root] = tree
    return trees


def tree_usage(pids: Sequence[int]) -> tuple[int | None, Usage]:
    """Summed RSS (bytes) and CPU of a job's processes; None when its main process is gone.

    A process's own CPU plus what it collected from its waited-for children counts each
    finished descendant once, in the live ancestor that reaped it.
    """
    rss, user, system = 0, 0.0, 0.0
    for index, pid in enumerate(pids):
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
        except psutil.Error:
            if index == 0:
                return None, Usage()
            continue
        user += times.user + times.children_user
        system += times.system + times.children_system
    return rss, Usage(user, system)


def disk_usage_kb(ad: classad2.ClassAd) -> int:
    """The job's stdout and stderr in KB: what the local pool can attribute to one job."""
    total = 0
    for name in ("Out", "Err"):
        try:
            total += os.path.getsize(str(ad.get(name) or ""))
        except OSError:
            continue
    return max(1, math.ceil(total / 1024))
