"""The local pool's runner as tracking sees it, driven by the test: jobs start and end when the test
says, with no process, so a 1,000-job stage runs in a second (the real runner takes 30 s and more
for as many jobs on this machine).

It writes what the runner writes, in the runner's order (:meth:`prodops.batch.local.runner.Runner._flush`):
each event to the submission's event log first, then the ads through the local pool's own
transitions, then ``history.ads``, ``queue.ads`` and the log offset the ads show (``ads.offset``),
so :class:`~prodops.batch.local.LocalPoolBackend` reads it, in any process, as it reads a runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prodops.batch.eventlog import EventLogWriter, ResourceUsage, Usage, log_end
from prodops.batch.jobads import IN_QUEUE, local_machine, write_atomic
from prodops.batch.local import transitions
from prodops.batch.workdir import Workdir


class ScriptedPool:
    def __init__(self, workdir: str) -> None:
        self.workdir = Workdir(workdir)
        self.ads = {int(ad["ProcId"]): ad for ad in self.workdir.ads()}
        self.machine = local_machine()
        self.events = EventLogWriter(self.workdir.event_log, host=self.machine.hostname)

    def run(self, procs: Iterable[int], exit_code: Callable[[int], int], stderr: Callable[[int], str]) -> None:
        """Start the jobs, then end each with its exit code (its stderr written first), then show the ads."""
        procs = list(procs)
        started = time.time()
        for slot, proc in enumerate(procs, start=1):
            ad = self.ads[proc]
            slot_name = self.machine.slot_name(slot)
            self.events.execute(int(ad["ClusterId"]), proc, slot_name=slot_name, when=started)
            transitions.start(ad, slot_name, self.machine, started)
        ended = time.time()
        for proc in procs:
            ad, code = self.ads[proc], exit_code(proc)
            Path(str(ad["Err"])).write_text(stderr(proc))
            run = transitions.Run(started, Usage(0.5, 0.1))
            self.events.terminated(int(ad["ClusterId"]), proc, return_value=code, run_usage=run.cpu,
                                   total_usage=run.cpu, resources=[ResourceUsage("Cpus", 1, 1, 1)], when=ended)
            transitions.end_run(ad, ended, run)
            transitions.complete(ad, code, None, ended)
        self.flush()

    def flush(self) -> None:
        shown = log_end(self.workdir.event_log)
        queue = [ad for _, ad in sorted(self.ads.items()) if int(ad["JobStatus"]) in IN_QUEUE]
        history = [ad for _, ad in sorted(self.ads.items()) if int(ad["JobStatus"]) not in IN_QUEUE]
        write_atomic(self.workdir.history_ads, "".join(ad.printOld() + "\n" for ad in history))
        write_atomic(self.workdir.queue_ads, "".join(ad.printOld() + "\n" for ad in queue))
        self.workdir.mark_ads(shown)

    def close(self) -> None:
        self.events.close()
