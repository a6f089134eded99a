-- Daily roll-up of stats_hourly (issue 17, item 5): per tenant, account, entity, local day (of the
-- account's time zone) and placement, the partial aggregates store::stats::aggregate needs, so a
-- report over whole local days reads ~1/24 of the rows. Kept by store::daily in the same
-- transaction as every write to stats_hourly (upsert, re-conversion); stats_daily_zones records
-- the zone its days were cut in. A read uses it only when its zone and whole-day window match;
-- otherwise (or before an account's first roll-up) it reads stats_hourly as before.

CREATE TABLE stats_daily (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    account_id          TEXT NOT NULL,
    entity              TEXT NOT NULL,
    day                 BIGINT NOT NULL,  -- local date of the account's zone, days since 1970-01-01
    entity_id           TEXT NOT NULL,
    placement           TEXT NOT NULL,
    impressions         BIGINT NOT NULL,  -- each metric: the sum over the day's stored hours
    clicks              BIGINT NOT NULL,
    engagements         BIGINT NOT NULL,
    retweets            BIGINT NOT NULL,
    likes               BIGINT NOT NULL,
    replies             BIGINT NOT NULL,
    follows             BIGINT NOT NULL,
    billed_engagements  BIGINT NOT NULL,
    conversions         BIGINT NOT NULL,
    installs            BIGINT,           -- NULL when no hour of the day knows it
    spend_local_micro   BIGINT NOT NULL,
    currency_min        TEXT NOT NULL,    -- MIN(currency) of the hours
    last_hour           BIGINT NOT NULL,  -- MAX(hour)
    hours               BIGINT NOT NULL,  -- COUNT(*)
    fx_hours            BIGINT NOT NULL,  -- COUNT(fx_rate)
    fx_rate_min         TEXT,
    fx_rate_max         TEXT,
    fx_date_min         TEXT,
    fx_date_max         TEXT,
    fx_source_min       TEXT,
    fx_source_max       TEXT,
    usd_hours           BIGINT NOT NULL,  -- COUNT(spend_usd)
    usd_micros          BIGINT,           -- SUM of spend_usd in micros
    fx_stale            BIGINT NOT NULL,  -- 1 when an hour was converted with a stale rate
    PRIMARY KEY (tenant_id, account_id, entity, day, entity_id, placement)
);

CREATE TABLE stats_daily_zones (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    account_id   TEXT NOT NULL,
    timezone     TEXT NOT NULL,           -- the IANA zone stats_daily's days were cut in
    PRIMARY KEY (tenant_id, account_id)
);
