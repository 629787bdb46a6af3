"""PostgreSQL access for prodops records: migrations, named queries, idempotent writes."""
