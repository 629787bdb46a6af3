"""The local pool: HTCondor semantics on one machine, for laptops, the demo and tests.

One module per responsibility: :mod:`.backend` (the Batch boundary: submit, poll, act, through
files in the submission's workdir), :mod:`.runner` (the detached schedd-and-startd loop of one
submission: it applies requests, starts, measures and reaps jobs, and recovers after a crash),
:mod:`.control` (hold/release/remove requests and what each does to a job by its status),
:mod:`.transitions` (what each event does to a job ad, and what recovery does to a job a dead
runner left: pure functions, tested without processes) and :mod:`.processes` (process
sessions: their trees, usage and disk).
"""

from prodops.batch.local.backend import PLUGINS_DIR, LocalPoolBackend

__all__ = ["PLUGINS_DIR", "LocalPoolBackend"]
