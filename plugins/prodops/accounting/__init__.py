"""Accounting: where the grid hours go, by request, stage, site, CPU model, worker subnet,
time-of-day window and day (docs/accounting.md). The job_accounting DAG runs
:func:`prodops.accounting.rollup.roll_up`; the stats page reads :mod:`prodops.accounting.stats`."""
