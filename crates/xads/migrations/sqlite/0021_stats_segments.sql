-- Breakdowns (issue 18, item 3; PRODUCT.md §4.10): the rows of X's segmented asynchronous jobs,
-- one per tenant, account, entity, hour, placement and segment, beside `stats_hourly` and never
-- summed into it. The columns are stats_hourly's (store::stats generates the SQL of both from
-- the client's metric table) plus the segment, which is part of the key.

CREATE TABLE stats_segments (
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
    installs            BIGINT,           -- post-view + post-engagement installs; NULL = not asked
    currency            TEXT NOT NULL,    -- ISO-4217 of the funding instrument
    spend_local_micro   BIGINT NOT NULL,
    fx_rate             TEXT,             -- USD per one unit of currency, decimal; NULL = no rate yet
    fx_rate_date        TEXT,             -- YYYY-MM-DD of the rate used
    fx_source           TEXT,             -- bundled | ecb | csv | api
    spend_usd           TEXT,             -- decimal, 6 places, half-even; NULL while no rate
    fetched_at          BIGINT NOT NULL,
    segment_type        TEXT NOT NULL,    -- AGE | GENDER | PLATFORMS | METROS | CONVERSION_TAGS
    segment_name        TEXT NOT NULL,    -- as X sends it ('' when X sends none)
    segment_value       TEXT NOT NULL,    -- as X sends it ('' when X sends none)
    PRIMARY KEY (tenant_id, account_id, entity, segment_type, entity_id, hour, placement,
                 segment_name, segment_value)
);
-- GET …/stats?segment= groups one account's rows of one entity type and segment type over a
-- window of hours (`WHERE tenant_id, account_id, entity, segment_type AND hour in [from, to)`),
-- as stats_hourly_window serves the unsegmented read.
CREATE INDEX stats_segments_window ON stats_segments (tenant_id, account_id, entity, segment_type, hour);
