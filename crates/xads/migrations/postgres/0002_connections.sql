-- Connect flow (PRODUCT.md §4.1): pending authorizations, the connection with its sealed tokens,
-- and the ad accounts it reaches.

CREATE TABLE oauth_pending (
    state_hash   TEXT PRIMARY KEY,        -- sha256 hex of `state` (OAuth 2.0) or `oauth_token` (1.0a)
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    method       TEXT NOT NULL,           -- oauth2 | oauth1
    secret_ct    BYTEA NOT NULL,           -- sealed PKCE verifier, or the request-token secret
    redirect_to  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,         -- 10 minutes after creation
    used_at      BIGINT                   -- single use: set by the callback that consumes it
);

CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL UNIQUE REFERENCES tenants(id),
    method              TEXT NOT NULL,    -- oauth2 | oauth1
    status              TEXT NOT NULL,    -- connected | needs_reconnect | error | disconnected
    scopes              TEXT NOT NULL,
    access_ct           BYTEA,             -- sealed, bound to "connection:<id>:access"
    refresh_ct          BYTEA,             -- sealed, bound to "connection:<id>:refresh" (1.0a: token secret)
    access_expires_at   BIGINT,
    token_version       BIGINT NOT NULL,  -- bumped on every new token pair; readers compare it
    refresh_lock_until  BIGINT,           -- one refresh at a time across instances
    problem             TEXT,             -- the user-facing text of PRODUCT.md §4.9, or NULL
    connected_at        BIGINT,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE ad_accounts (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    id               TEXT NOT NULL,
    name             TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    currency         TEXT,                -- from the account's funding instruments (accounts have none)
    approval_status  TEXT,
    deleted          SMALLINT NOT NULL DEFAULT 0,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
