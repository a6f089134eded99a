-- A stats row's tenant is checked once per write, not once per row. PostgreSQL checks a foreign
-- key with a trigger per inserted row (a `SELECT … FOR KEY SHARE` of the tenant): measured on
-- 100 016 rows copied in, 1.10 s with the key against 0.67 s without, the largest cost left
-- in ingesting new rows (issue 17, BENCHMARKS.md, 2026-12-07). Every write of these tables
-- (store::stats::upsert_into) bumps the account's `stats_versions` row in the same transaction:
-- the first one inserts it, and that table's foreign key to `tenants` makes the same check,
-- so a tenant that does not exist still fails the whole write; once the row exists, it keeps
-- its tenant from being deleted. No code deletes tenants.
ALTER TABLE stats_hourly DROP CONSTRAINT stats_hourly_tenant_id_fkey;
ALTER TABLE stats_segments DROP CONSTRAINT stats_segments_tenant_id_fkey;
