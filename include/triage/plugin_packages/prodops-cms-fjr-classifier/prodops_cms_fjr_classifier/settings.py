"""The plugin's settings, read once from the environment of the process that runs triage.

==============================  ===============================================  =================
variable                        what                                             default
==============================  ===============================================  =================
``PRODOPS_CMS_EXPERIMENTS``     experiments the plugin classifies (commas)       ``cms``
``PRODOPS_CMS_FJR_MAX_BYTES``   a report up to this size is parsed whole; a      ``8388608`` (8 MiB)
                                larger one only in its last MiB
``PRODOPS_CMS_FJR_SLACK_S``     the shared name ``FrameworkJobReport.xml`` is    ``600``
                                read only when written within the job's run
                                (start - slack .. end + slack)
==============================  ===============================================  =================

A bad value raises :class:`ValueError` naming the variable and the fix; prodops then logs that
the plugin could not be loaded and triages without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 8 << 20
TAIL_BYTES = 1 << 20
"""What is read of a report larger than ``max_bytes``: its end, where cmsRun writes its errors."""


@dataclass(frozen=True)
class FjrSettings:
    experiments: tuple[str, ...] = ("cms",)
    max_bytes: int = DEFAULT_MAX_BYTES
    slack_s: int = 600


def _whole(env: Mapping[str, str], name: str, default: int, what: str) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"{name}={raw!r} is not a positive whole number; set it to {what} or unset it")
    return int(raw)


def load_settings(env: Mapping[str, str] | None = None) -> FjrSettings:
    """The settings from ``env`` (default: ``os.environ``); unset variables keep their defaults."""
    env = os.environ if env is None else env
    defaults = FjrSettings()
    experiments = defaults.experiments
    if env.get("PRODOPS_CMS_EXPERIMENTS", "").strip():
        experiments = tuple(e.strip().lower() for e in env["PRODOPS_CMS_EXPERIMENTS"].split(",") if e.strip())
    return FjrSettings(
        experiments=experiments,
        max_bytes=_whole(env, "PRODOPS_CMS_FJR_MAX_BYTES", defaults.max_bytes, "a size in bytes (default 8388608)"),
        slack_s=_whole(env, "PRODOPS_CMS_FJR_SLACK_S", defaults.slack_s, "seconds (default 600)"),
    )
