-- Campaign management (PRODUCT.md §4.3–§4.5): the local mirror of X entities (and dry-run ones),
-- inbound idempotency keys, outbound write intents, and the audit trail.

CREATE TABLE entities (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,          -- campaign | line_item | promoted_tweet
    id            TEXT NOT NULL,          -- X's id, or dry_… for dry-run entities
    parent_id     TEXT,                   -- campaign of a line item, line item of a promoted tweet
    dry_run       SMALLINT NOT NULL,
    deleted       SMALLINT NOT NULL DEFAULT 0,
    data          TEXT NOT NULL,          -- the entity as our API shows it (JSON, X's field names)
    seq           BIGINT NOT NULL,        -- insertion order, for stable paging
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind, id)
);
CREATE INDEX entities_by_account ON entities (tenant_id, account_id, kind, seq);

CREATE TABLE idempotency_keys (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    idem_key      TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,          -- sha256 of method, path, mode and body
    state         TEXT NOT NULL,          -- in_flight | done
    lease_until   BIGINT NOT NULL,        -- an in-flight key whose lease lapsed may be taken over
    status        INTEGER,
    response      TEXT,                   -- the exact bytes answered, replayed verbatim
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,        -- kept at least 24 h
    PRIMARY KEY (tenant_id, idem_key)
);

CREATE TABLE x_writes (
    id            TEXT PRIMARY KEY,       -- also the Idempotency-Key header sent to X
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    operation     TEXT NOT NULL,          -- create_campaign, update_line_item, …
    request       TEXT NOT NULL,          -- the parameters sent (JSON), for reconciliation
    state         TEXT NOT NULL,          -- pending | sent | unknown | done | failed
    attempts      INTEGER NOT NULL DEFAULT 0,
    entity_id     TEXT,                   -- what X created or changed
    error         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX x_writes_open ON x_writes (state, updated_at);
CREATE INDEX x_writes_entity ON x_writes (tenant_id, operation, entity_id);

CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    account_id    TEXT NOT NULL,
    action        TEXT NOT NULL,          -- create_campaign, pause_line_item, …
    entity_kind   TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    mode          TEXT NOT NULL,          -- dry_run | live
    before_json   TEXT,
    after_json    TEXT,
    x_request_id  TEXT,
    at            BIGINT NOT NULL
);
CREATE INDEX audit_by_entity ON audit_log (tenant_id, entity_kind, entity_id, at);
