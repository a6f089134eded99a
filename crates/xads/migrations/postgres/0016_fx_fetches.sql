-- The daily fetch of ECB's reference rates (XADS_FX_URL): one row per UTC day, claimed by one
-- instance (a conditional insert; a lapsed lease of a holder that never finished is taken over),
-- and how that day's attempt ended. A failed day is not retried before the next day.
CREATE TABLE fx_fetches (
    day          TEXT PRIMARY KEY,       -- YYYY-MM-DD (UTC)
    holder       TEXT NOT NULL,
    lease_until  BIGINT NOT NULL,        -- epoch ms
    done         SMALLINT NOT NULL DEFAULT 0,
    outcome      TEXT,                   -- 'ok: …' or 'failed: …'
    finished_at  BIGINT                  -- epoch ms
);
