"""Failure triage: one verdict per failed job attempt, with its evidence and the action taken.

``tail`` reads the last lines of a job's logs (paths from the submission record only),
``patterns`` is the library of known errors under include/triage/patterns, ``plugins`` runs
the experiments' own classifiers, ``facts`` reads HTCondor's hold codes, signals and exit
codes, ``outages`` joins attempts with the service board, ``policy`` decides the action,
``service`` runs it all for one stage and records the verdicts.
"""
