"""One trigger run as Airflow's triggerer runs it, in a process of its own (the fault tests kill it).

``python -m tests.integration.faults.triggerer`` imports what a triggerer imports, then waits for its
trigger on stdin (one JSON line: what :meth:`BaseTrigger.serialize` returned), as a standby
triggerer is handed the triggers of one that died; it builds the trigger, iterates ``trigger.run()``
in an asyncio loop and prints the first event's payload as one JSON line, as the triggerer hands
the first event to the task.
The local pool's runner is the test's (:mod:`tests.integration.faults.pool`): the backend named
``local`` starts none.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any

from prodops.batch.local import LocalPoolBackend
from prodops.batch.registry import register_backend


async def first_event(classpath: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    async for event in trigger.run():
        return event.payload
    raise RuntimeError(f"{classpath} ended without an event")


def main() -> int:
    import prodops.triggers.stage  # noqa: F401 - imported before the trigger comes, as by a running triggerer

    classpath, kwargs = json.loads(sys.stdin.readline())
    register_backend("local", lambda: LocalPoolBackend(autostart=False))
    print(json.dumps(asyncio.run(first_event(classpath, kwargs))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
