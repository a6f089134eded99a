-- Reports read one account's series over a window of hours (issue 17, item 3): GET …/stats and
-- the Reports page group `WHERE tenant_id, account_id, entity AND hour in [from, to)` in SQL.
-- The primary key leads with entity_id, so without this index a 90-day window of an account
-- with 400 days stored walked every stored hour of the account; with it, only the window.
CREATE INDEX stats_hourly_window ON stats_hourly (tenant_id, account_id, entity, hour);
