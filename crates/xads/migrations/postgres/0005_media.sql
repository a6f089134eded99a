-- Media library (PRODUCT.md §4.3, §5): the local mirror of the account's media library (and
-- dry-run entries), the upload of each distinct file per account (content hash) so a retried
-- request never makes a second library entry, and when each account's library was last read.

CREATE TABLE media (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    media_key     TEXT NOT NULL,          -- X's media key (3_…, 13_…, 16_…), or dry_… for dry-run
    dry_run       SMALLINT NOT NULL,
    deleted       SMALLINT NOT NULL DEFAULT 0,
    sha256        TEXT,                   -- of the uploaded file, when uploaded through us
    data          TEXT NOT NULL,          -- the entry as our API shows it (JSON, X's field names)
    seq           BIGINT NOT NULL,        -- insertion order, for stable paging
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, media_key)
);
CREATE INDEX media_by_account ON media (tenant_id, account_id, seq);

CREATE TABLE media_uploads (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    sha256        TEXT NOT NULL,          -- hex SHA-256 of the file
    dry_run       SMALLINT NOT NULL,
    state         TEXT NOT NULL,          -- uploading | uploaded | done | failed
    lease_until   BIGINT NOT NULL,        -- an upload whose lease lapsed may be taken over
    media_id      TEXT,                   -- X's upload id, once initialized
    media_key     TEXT,                   -- X's media key (or dry_…), once known
    error         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id, sha256, dry_run)
);

CREATE TABLE media_mirror (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    refreshed_at  BIGINT NOT NULL,        -- last complete read of X's media library
    PRIMARY KEY (tenant_id, account_id)
);
