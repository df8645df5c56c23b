-- SQLite's search index (FTS5 trigram tables); PostgreSQL's search uses the trigram GIN
-- indexes of 2026-12-02-000001_scale_indexes. This migration exists so both backends list
-- the same migrations.
SELECT 1;
