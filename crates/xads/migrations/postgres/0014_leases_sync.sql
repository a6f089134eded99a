-- Leases that outlive the work they guard (issue 15, items 3 and 4). Every lease expiry below is
-- epoch ms by the DATABASE's clock (store: Db::now_ms_sql), never an instance's own clock.

-- The token-refresh lock names its holder, so only the holder renews it while its refresh runs.
ALTER TABLE connections ADD COLUMN refresh_lock_holder TEXT;
-- A connection left in `error` by a failed probe is probed again in the background, with backoff:
-- when (epoch ms, the scheduling instance's clock; NULL: not scheduled), how many attempts failed
-- so far, and the lease (database clock) of the instance probing it now.
ALTER TABLE connections ADD COLUMN probe_due_at BIGINT;
ALTER TABLE connections ADD COLUMN probe_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN probe_lease_until BIGINT;
ALTER TABLE connections ADD COLUMN probe_holder TEXT;
-- Connections already in `error` are probed again once after the upgrade.
UPDATE connections SET probe_due_at = 0 WHERE status = 'error';

-- One running sync per account: a run holds a lease (renewed while it runs); a run whose lease
-- lapsed is failed as interrupted by the next start of that account.
ALTER TABLE sync_runs ADD COLUMN lease_until BIGINT;
-- Before the index: of several runs of one account still `running`, only the newest stays so.
UPDATE sync_runs SET status = 'failed', error = 'the instance running this sync stopped',
    error_code = 'interrupted', finished_at = started_at
 WHERE status = 'running' AND EXISTS (
    SELECT 1 FROM sync_runs o
     WHERE o.tenant_id = sync_runs.tenant_id AND o.account_id = sync_runs.account_id
       AND o.status = 'running'
       AND (o.started_at > sync_runs.started_at OR (o.started_at = sync_runs.started_at AND o.id > sync_runs.id)));
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (tenant_id, account_id) WHERE status = 'running';
