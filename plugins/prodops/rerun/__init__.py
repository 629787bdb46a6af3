"""Debug reruns: chosen jobs of a request run again with debug turned up (the debug_rerun DAG).

:mod:`~prodops.rerun.settings` checks what a person asks for against the workflow template's
``debug:`` block; :mod:`~prodops.rerun.select` chooses the attempts to rerun;
:mod:`~prodops.rerun.submit` builds the rerun's submission and links each new attempt to the one
it reruns; :mod:`~prodops.rerun.views` shows each pair side by side.
"""
