-- The days of stats_daily a write made stale (issue 17): a write to stats_hourly marks the UTC
-- dates of its hours here, in its own transaction, instead of re-aggregating them there (that
-- cost ingestion 4-7 x); store::daily::settle re-aggregates the local days over the marked dates
-- and deletes the marks in one transaction, before a read of the roll-up and after each sync.

CREATE TABLE stats_daily_dirty (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    account_id   TEXT NOT NULL,
    entity       TEXT NOT NULL,
    utc_day      BIGINT NOT NULL,         -- days since 1970-01-01 of the written hours' UTC dates
    PRIMARY KEY (tenant_id, account_id, entity, utc_day)
);
