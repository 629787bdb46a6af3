"""Post-job data quality: output manifests and Great Expectations suites per stage."""
