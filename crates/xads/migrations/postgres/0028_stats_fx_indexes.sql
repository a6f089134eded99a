-- Re-conversion after a rate import (store::stats::reconvert) reads hour by hour through the
-- window indexes that reports read. Its own index, led by the currency and the hour, put every
-- sync's rows on pages scattered over all hours: with it gone, SQLite writes new rows about
-- 1.8 x as fast and PostgreSQL about 1.2 x (issue 17, BENCHMARKS.md, 2026-12-07).
DROP INDEX stats_hourly_fx;
-- Which tenants hold rows in a currency (store::fx_rates::tenants_with_rows), and which of a
-- tenant's accounts (the re-conversion walks only those): one seek each. A new row's entry lands
-- at the end of its (currency, tenant, account) run, so inserts barely pay for it (measured with
-- the rest of this change, BENCHMARKS.md). Segment rows had no index by currency.
CREATE INDEX stats_hourly_currency ON stats_hourly (currency, tenant_id, account_id);
CREATE INDEX stats_segments_currency ON stats_segments (currency, tenant_id, account_id);
