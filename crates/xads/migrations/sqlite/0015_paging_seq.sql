-- Paging positions of the mirrors (entities, media) are numbered per tenant from a counter row,
-- taken in the same transaction as the row it numbers. The counter's row lock is held until that
-- transaction commits, so a tenant's positions are unique and become visible in increasing order:
-- a reader that has paged past position n never later finds a newly committed row below n.
-- (Before, `seq = MAX(seq) + 1` over all tenants gave two concurrent upserts the same number,
-- which `seq > after` paging then skipped, and showed every tenant the others' write volume.)
CREATE TABLE paging_seq (
    tenant_id     TEXT NOT NULL,
    name          TEXT NOT NULL,          -- entities | media
    last_seq      BIGINT NOT NULL,        -- the last position handed out
    PRIMARY KEY (tenant_id, name)
);

-- Renumber the existing rows per tenant, keeping their order.
UPDATE entities SET seq = r.n
FROM (SELECT tenant_id, kind, id,
             ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY seq, kind, id) AS n
      FROM entities) AS r
WHERE r.tenant_id = entities.tenant_id AND r.kind = entities.kind AND r.id = entities.id;

UPDATE media SET seq = r.n
FROM (SELECT tenant_id, account_id, media_key,
             ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY seq, account_id, media_key) AS n
      FROM media) AS r
WHERE r.tenant_id = media.tenant_id AND r.account_id = media.account_id
  AND r.media_key = media.media_key;

INSERT INTO paging_seq (tenant_id, name, last_seq)
SELECT tenant_id, 'entities', MAX(seq) FROM entities GROUP BY tenant_id;
INSERT INTO paging_seq (tenant_id, name, last_seq)
SELECT tenant_id, 'media', MAX(seq) FROM media GROUP BY tenant_id;

-- MAX(seq) is no longer read; a position is unique within its tenant.
DROP INDEX entities_seq;
CREATE UNIQUE INDEX entities_tenant_seq ON entities (tenant_id, seq);
CREATE UNIQUE INDEX media_tenant_seq ON media (tenant_id, seq);
