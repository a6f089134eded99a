-- A rate put in through the API is its tenant's own override (issue 16): it converts only that
-- tenant's rows and no other tenant sees it. The global table keeps the bundled, ECB and CSV
-- rates (operators' imports).
CREATE TABLE fx_rate_overrides (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    currency      TEXT NOT NULL,
    rate_date     TEXT NOT NULL,          -- YYYY-MM-DD
    usd_per_unit  TEXT NOT NULL,          -- decimal
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, currency, rate_date)
);

-- Re-conversion pages through one tenant's rows of one currency from a date on, in this order.
CREATE INDEX stats_hourly_fx
    ON stats_hourly (tenant_id, currency, hour, account_id, entity, entity_id, placement);
