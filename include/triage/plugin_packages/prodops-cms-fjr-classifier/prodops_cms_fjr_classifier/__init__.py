"""prodops classifier plugin for CMSSW/WMCore jobs (entry point ``cms-fjr`` in ``prodops.classifiers``).

prodops loads this module through the entry point and reads ``classify``, ``EXPERIMENTS`` and
``ID`` from it; the rules are in :mod:`prodops_cms_fjr_classifier.classifier`, finding and
reading the framework job report in :mod:`prodops_cms_fjr_classifier.fjr`, the settings in
:mod:`prodops_cms_fjr_classifier.settings`.
"""

from __future__ import annotations

from prodops_cms_fjr_classifier.classifier import EXPERIMENTS, ID, classify, decide

__all__ = ["EXPERIMENTS", "ID", "classify", "decide"]
