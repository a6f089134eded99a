-- A version of each account's stored stats (issue 17, item 5): bumped in the same transaction as
-- every write to stats_hourly or stats_segments of the account (store::daily::mark: upserts and
-- re-conversions), so a copy of a report computed at version v is current exactly while the
-- version is still v, whichever instance wrote. The Reports page caches its figures under it.

CREATE TABLE stats_versions (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    account_id   TEXT NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
