"""Hooks: all I/O with an outside system, configured from Airflow connections."""
