-- Backfills through X's asynchronous analytics jobs (issue 18, item 2; PRODUCT.md §4.10).
-- A backfill is leased to the runner working on it (any instance takes over a lapsed lease and
-- resumes it); its jobs are recorded before X is asked, so a restart never submits one twice.
CREATE TABLE backfills (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    trigger_kind  TEXT NOT NULL,          -- connect | on_demand | cli
    status        TEXT NOT NULL,          -- running | succeeded | failed | cancelled
    window_from   BIGINT NOT NULL,        -- epoch ms, whole hours, [from, to)
    window_to     BIGINT NOT NULL,
    segment       TEXT,                   -- X's segmentation_type, or NULL
    country       TEXT,                   -- X's targeting value of a country (METROS)
    planned       SMALLINT NOT NULL,      -- 1 once its jobs are recorded
    jobs_total    BIGINT NOT NULL,
    jobs_done     BIGINT NOT NULL,
    rows_upserted BIGINT NOT NULL,
    error         TEXT,
    error_code    TEXT,
    holder        TEXT,                   -- the runner holding it
    lease_until   BIGINT NOT NULL,        -- database clock, epoch ms; 0 = nobody holds it
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX backfills_account ON backfills (tenant_id, account_id, created_at);
CREATE INDEX backfills_running ON backfills (status, lease_until);

-- One X job of a backfill. `unit` groups the jobs whose rows are merged before the upsert (the
-- main metric groups and, when wanted, MOBILE_CONVERSION, which X wants in a job of its own).
-- state: planned → submitting (intent recorded, X asked) → submitted (X's job id) → ready (X's
-- SUCCESS, url kept) → done; a FAILED/EXPIRED job goes back to planned (a new job) until
-- `attempts` runs out, then failed.
CREATE TABLE backfill_jobs (
    backfill_id   TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    unit          BIGINT NOT NULL,
    part          TEXT NOT NULL,          -- main | mobile
    query         TEXT NOT NULL,          -- the job's parameters (JSON)
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    x_job_id      TEXT,
    url           TEXT,
    asked_at      BIGINT,                 -- when the last submission was recorded (epoch ms)
    rows_upserted BIGINT NOT NULL,
    error         TEXT,
    PRIMARY KEY (backfill_id, seq)
);
