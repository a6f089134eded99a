-- Reporting (PRODUCT.md §4.7): hourly stats rows with their USD conversion, FX reference rates,
-- per-account sync settings, the (account, slot) leases of the scheduler, sync runs and health.

CREATE TABLE stats_hourly (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    account_id          TEXT NOT NULL,
    entity              TEXT NOT NULL,    -- CAMPAIGN | LINE_ITEM
    entity_id           TEXT NOT NULL,
    hour                BIGINT NOT NULL,  -- start of the UTC hour, epoch ms
    placement           TEXT NOT NULL,    -- ALL_ON_TWITTER, …
    impressions         BIGINT NOT NULL,
    clicks              BIGINT NOT NULL,
    engagements         BIGINT NOT NULL,
    retweets            BIGINT NOT NULL,
    likes               BIGINT NOT NULL,
    replies             BIGINT NOT NULL,
    follows             BIGINT NOT NULL,
    billed_engagements  BIGINT NOT NULL,
    conversions         BIGINT NOT NULL,
    currency            TEXT NOT NULL,    -- ISO-4217 of the funding instrument
    spend_local_micro   BIGINT NOT NULL,
    fx_rate             TEXT,             -- USD per one unit of currency, decimal; NULL = no rate yet
    fx_rate_date        TEXT,             -- YYYY-MM-DD of the rate used
    fx_source           TEXT,             -- bundled | ecb | csv | api
    spend_usd           TEXT,             -- decimal, 6 places, half-even; NULL while no rate
    fetched_at          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, entity, entity_id, hour, placement)
);
-- No secondary index: every write is an upsert on the key, and re-converting a currency after a
-- rate import (rare) can afford a scan.

CREATE TABLE fx_rates (
    currency      TEXT NOT NULL,
    rate_date     TEXT NOT NULL,          -- YYYY-MM-DD
    usd_per_unit  TEXT NOT NULL,          -- decimal
    source        TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (currency, rate_date)
);

CREATE TABLE stats_settings (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    placements    TEXT NOT NULL,          -- comma list, e.g. ALL_ON_TWITTER
    conversions   TEXT NOT NULL,          -- comma list of WEB_CONVERSION / MOBILE_CONVERSION, or ''
    PRIMARY KEY (tenant_id, account_id)
);

CREATE TABLE stats_line_item_campaigns (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,          -- its line items get LINE_ITEM stats (experiments)
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, campaign_id)
);

CREATE TABLE sync_leases (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    slot          BIGINT NOT NULL,        -- start of the scheduler slot, epoch ms
    holder        TEXT NOT NULL,          -- the sync run holding it
    lease_until   BIGINT NOT NULL,        -- a crashed holder's lease may be taken over after this
    done          SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, account_id, slot)
);

CREATE TABLE sync_runs (
    id              TEXT PRIMARY KEY,     -- syn_…
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    account_id      TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,        -- scheduled | on_demand | cli
    status          TEXT NOT NULL,        -- running | succeeded | failed
    window_from     BIGINT,
    window_to       BIGINT,
    x_calls         BIGINT NOT NULL DEFAULT 0,
    entities        BIGINT NOT NULL DEFAULT 0,
    active_entities BIGINT NOT NULL DEFAULT 0,
    rows_upserted   BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX sync_runs_by_account ON sync_runs (tenant_id, account_id, started_at);

CREATE TABLE sync_health (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    account_id       TEXT NOT NULL,
    last_success_at  BIGINT,
    synced_until     BIGINT,              -- end of the last successfully synced window
    last_error       TEXT,
    last_error_at    BIGINT,
    PRIMARY KEY (tenant_id, account_id)
);
