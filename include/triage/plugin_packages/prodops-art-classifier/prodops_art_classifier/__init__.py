"""prodops classifier plugin for art/LArSoft experiments (entry point ``art`` in ``prodops.classifiers``).

prodops loads this module through the entry point and reads ``classify``, ``EXPERIMENTS`` and
``ID`` from it; the rules are in :mod:`prodops_art_classifier.classifier`, the line shapes of
art, ifdh and samweb (with their sources) in :mod:`prodops_art_classifier.readers`, and the
settings in :mod:`prodops_art_classifier.settings`.
"""

from __future__ import annotations

from prodops_art_classifier.classifier import EXPERIMENTS, ID, classify, decide

__all__ = ["EXPERIMENTS", "ID", "classify", "decide"]
