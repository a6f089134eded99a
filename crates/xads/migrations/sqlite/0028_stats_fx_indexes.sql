-- Re-conversion after a rate import (store::stats::reconvert) pages window by window through
-- the window indexes that reports read. Its own index, led by the currency and the hour, put
-- every sync's rows on pages scattered over all hours: with it gone, SQLite writes new rows
-- about 1.8 x as fast and PostgreSQL about 1.3 x (issue 17, BENCHMARKS.md, 2026-12-07).
DROP INDEX stats_hourly_fx;
-- Which tenants a global rate concerns (store::fx_rates::tenants_with_rows): one seek per
-- tenant. A new row's entry lands at the end of its (currency, tenant) run, so this costs an
-- insert next to nothing (measured within noise in SQLite alone); segment rows had no index.
CREATE INDEX stats_hourly_currency ON stats_hourly (currency, tenant_id);
CREATE INDEX stats_segments_currency ON stats_segments (currency, tenant_id);
