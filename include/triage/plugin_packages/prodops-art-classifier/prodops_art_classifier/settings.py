"""The plugin's settings, read once from the environment of the process that runs triage.

=====================================  ============================================  ==========================
variable                               what                                          default
=====================================  ============================================  ==========================
``PRODOPS_ART_EXPERIMENTS``            experiments the plugin classifies (commas)    dune, icarus, sbnd, sbn,
                                                                                     uboone, microboone, nova,
                                                                                     mu2e, gm2
``PRODOPS_ART_STORAGE_SERVICE``        board service ifdh copies and art's file      ``dcache``
                                       opens are blamed on
``PRODOPS_ART_SAM_SERVICE``            board service SAM/samweb failures are         ``samweb``
                                       blamed on
``PRODOPS_ART_IFDH_MAX_RETRIES``       the experiment's ``IFDH_CP_MAXRETRIES``       ``8`` (ifdh's own default:
                                                                                     9 tries)
``PRODOPS_ART_VALIDATION_PATTERN``     regular expression for the line the           see ``DEFAULT_VALIDATION``
                                       experiment's validation prints when it
                                       fails a job on purpose; group ``why``
                                       optional
=====================================  ============================================  ==========================

A bad value raises :class:`ValueError` naming the variable and the fix; prodops then logs that
the plugin could not be loaded and triages without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_EXPERIMENTS = ("dune", "icarus", "sbnd", "sbn", "uboone", "microboone", "nova", "mu2e", "gm2")
DEFAULT_VALIDATION = r"(?i)^\s*(?:\S+:\s+)?(?:validation failed|job told to fail)\b[\s:-]*(?P<why>.*)$"
"""``VALIDATION FAILED: output has 0 events`` (the experiment's own check of the job's output) or
``job told to fail: ...`` (a test request that asks its jobs to fail): both are the job's own
decision, so a code failure that a retry cannot fix."""
IFDH_DEFAULT_MAX_RETRIES = 8
"""ifdh ``retry_system``: ``maxtries = 9`` unless ``IFDH_CP_MAXRETRIES`` is set (then that + 1)."""


@dataclass(frozen=True)
class ArtSettings:
    experiments: tuple[str, ...] = DEFAULT_EXPERIMENTS
    storage_service: str = "dcache"
    sam_service: str = "samweb"
    ifdh_max_retries: int = IFDH_DEFAULT_MAX_RETRIES
    validation: re.Pattern[str] = re.compile(DEFAULT_VALIDATION)


def load_settings(env: Mapping[str, str] | None = None) -> ArtSettings:
    """The settings from ``env`` (default: ``os.environ``); unset variables keep their defaults."""
    env = os.environ if env is None else env
    defaults = ArtSettings()
    experiments = defaults.experiments
    if env.get("PRODOPS_ART_EXPERIMENTS", "").strip():
        experiments = tuple(e.strip().lower() for e in env["PRODOPS_ART_EXPERIMENTS"].split(",") if e.strip())
    retries = defaults.ifdh_max_retries
    raw = env.get("PRODOPS_ART_IFDH_MAX_RETRIES", "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"PRODOPS_ART_IFDH_MAX_RETRIES={raw!r} is not a whole number; set it to the"
                             " experiment's IFDH_CP_MAXRETRIES (ifdh's default is 8)")
        retries = int(raw)
    validation = defaults.validation
    raw = env.get("PRODOPS_ART_VALIDATION_PATTERN", "").strip()
    if raw:
        try:
            validation = re.compile(raw)
        except re.error as err:
            raise ValueError(f"PRODOPS_ART_VALIDATION_PATTERN={raw!r} is not a regular expression ({err});"
                             " fix it or unset it for the default") from None
    return ArtSettings(
        experiments=experiments,
        storage_service=env.get("PRODOPS_ART_STORAGE_SERVICE", "").strip() or defaults.storage_service,
        sam_service=env.get("PRODOPS_ART_SAM_SERVICE", "").strip() or defaults.sam_service,
        ifdh_max_retries=retries,
        validation=validation,
    )
