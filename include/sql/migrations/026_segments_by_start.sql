-- Ingest keeps its rate with the derived writes (issue 17, item 4). Segments are found by start only
-- (the primary key: the one ending at a time is the last starting before it, they are contiguous),
-- so their (service, end_at) index goes: every batch that extends a service's timeline replaces its
-- open segment, which cost an entry in this index per batch (dead at the horizon until vacuum, and
-- walked by the lookup that used it) besides the primary key's.
DROP INDEX IF EXISTS status_segments_end;
