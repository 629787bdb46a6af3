"""prodops: production operations for grid jobs, on Apache Airflow and HTCondor."""

__version__ = "0.1.0"
