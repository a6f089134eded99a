-- PostgreSQL drops the foreign keys of stats_hourly and stats_segments to tenants here (its
-- per-row trigger was the largest cost of ingesting new rows); the account's stats_versions
-- row, bumped in the same transaction as every write of them, checks the tenant once per
-- write. SQLite keeps them: its check is one lookup of the tenant's key per row, and dropping a
-- foreign key would mean rebuilding each table.
SELECT 1;
