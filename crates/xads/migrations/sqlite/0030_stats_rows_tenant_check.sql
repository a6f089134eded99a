-- PostgreSQL drops the foreign keys of stats_hourly and stats_segments to tenants here (its
-- per-row trigger was the largest cost of ingesting new rows); the account's stats_versions
-- row, inserted by the first write of them and bumped by every later one in the same
-- transaction, stands for the tenant's check there. SQLite keeps them: its check is one
-- lookup of the tenant's key per row, and dropping a foreign key would mean rebuilding each
-- table.
SELECT 1;
