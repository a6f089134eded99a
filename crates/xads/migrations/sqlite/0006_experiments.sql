-- Experiments (PRODUCT.md §4.8): one campaign, one line item per variant, a rotation runner.

CREATE TABLE experiments (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    account_id      TEXT NOT NULL,
    name            TEXT NOT NULL,
    campaign_id     TEXT NOT NULL,
    primary_metric  TEXT NOT NULL,        -- ctr | conversion_rate | cpc | cpa
    schedule        TEXT NOT NULL,        -- JSON {mode, slot_hours?}
    rules           TEXT NOT NULL,        -- JSON {min_impressions, min_conversions, max_days}
    status          TEXT NOT NULL,        -- creating | ready | running | stopped | concluded | failed
    dry_run         SMALLINT NOT NULL,
    problem         TEXT,                 -- why creation stopped, or drift seen by the runner
    winner          TEXT,                 -- variant name chosen at conclusion
    conclusion      TEXT,                 -- why (the verdict and figures at the time)
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    stopped_at      BIGINT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX experiments_by_tenant ON experiments (tenant_id, account_id, created_at);
CREATE INDEX experiments_running ON experiments (status);

CREATE TABLE experiment_variants (
    experiment_id     TEXT NOT NULL REFERENCES experiments(id),
    idx               INTEGER NOT NULL,
    name              TEXT NOT NULL,
    control           SMALLINT NOT NULL,
    tweet_id          TEXT NOT NULL,
    line_item         TEXT NOT NULL,      -- JSON: the line item's settings
    line_item_id      TEXT,               -- set once created
    promoted_tweet_id TEXT,               -- set once attached
    expected_paused   SMALLINT NOT NULL,  -- what the runner last set (drift = X differs)
    drift             TEXT,               -- what was seen changed outside xads
    PRIMARY KEY (experiment_id, idx)
);

CREATE TABLE experiment_slots (
    experiment_id   TEXT NOT NULL REFERENCES experiments(id),
    slot            BIGINT NOT NULL,
    live            TEXT NOT NULL,        -- comma list of variant indices made live
    claimed_by      TEXT NOT NULL,
    claimed_at      BIGINT NOT NULL,
    done_at         BIGINT,
    PRIMARY KEY (experiment_id, slot)
);
