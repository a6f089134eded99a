-- A version of each tenant's mirror (issue 17, item 1): bumped in the same transaction as every
-- write to the tenant's entities or ad_accounts rows (store::entities::bump_mirror), so a list
-- page read at version v is current exactly while the version is still v, whichever instance
-- wrote. The mirror's list pages are cached in each instance under it (store::entities::PageCache).

CREATE TABLE mirror_versions (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) PRIMARY KEY,
    version      BIGINT NOT NULL
);
