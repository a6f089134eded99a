-- Web UI sessions (login with the tenant key). Only the SHA-256 of the session token is stored;
-- the CSRF token is derived from the session token, so it is bound to the session and never stored.

CREATE TABLE ui_sessions (
    token_hash  TEXT PRIMARY KEY,         -- sha256 hex of the cookie value
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX ui_sessions_tenant ON ui_sessions (tenant_id);
