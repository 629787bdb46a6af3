"""The local pool: HTCondor semantics on one machine, for laptops, the demo and tests.

One module per responsibility: :mod:`.backend` (the Batch boundary: submit, poll, act, through
files in the submission's workdir), :mod:`.runner` (the detached schedd-and-startd loop of one
submission: control requests, starts, measurements, reaping, recovery after a crash),
:mod:`.transitions` (what each event does to a job ad: pure functions, tested without
processes) and :mod:`.processes` (process sessions: their trees, usage and disk).
"""

from prodops.batch.local.backend import PLUGINS_DIR, LocalPoolBackend

__all__ = ["PLUGINS_DIR", "LocalPoolBackend"]
