-- Re-conversion after a rate import (store::stats::reconvert) reads whole hours, up to 1 000
-- rows a read, through the window indexes that reports read. The index it paged by,
-- (tenant, currency, hour, …), put every sync's rows on pages scattered over all hours: with
-- it gone (and the index below added), SQLite writes new rows about 2 x as fast and PostgreSQL
-- about 1.2 x (issue 17, BENCHMARKS.md, 2026-12-07).
DROP INDEX stats_hourly_fx;
-- Which tenants hold rows in a currency (store::fx_rates::tenants_with_rows), and which of a
-- tenant's accounts (the re-conversion walks only those): one seek each. A new row's entry
-- lands at the end of its (currency, tenant, account) run; its cost to inserts was measured
-- only together with the drop above. Segment rows had no index by currency.
CREATE INDEX stats_hourly_currency ON stats_hourly (currency, tenant_id, account_id);
CREATE INDEX stats_segments_currency ON stats_segments (currency, tenant_id, account_id);
