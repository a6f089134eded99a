-- Conventions (both backends): instants are BIGINT epoch milliseconds (UTC), flags SMALLINT 0/1,
-- money BIGINT micros, FX rates decimal TEXT, secrets sealed BYTEA/BYTEA. sqlx's Any driver reads
-- these the same way on SQLite and PostgreSQL.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,          -- sha256 hex of the key; the key itself is never stored
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
