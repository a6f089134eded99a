-- Leases that outlive the work (issue 15, items 1 and 2). Both are measured on the database's
-- clock (`Db::now`), so instances whose clocks disagree still agree on who holds what.
-- An inbound Idempotency-Key claim names its holder (a token per execution): only it may renew,
-- finish or release the claim; `lease_until` is renewed while its request runs.
ALTER TABLE idempotency_keys ADD COLUMN holder TEXT;
-- An outbound intent names the execution holding it and until when (renewed while the call to X
-- is in progress; 0 once released). Recovery takes only intents whose lease lapsed. NULL holder:
-- a row written before this migration (recovery keeps the old age rule for those).
ALTER TABLE x_writes ADD COLUMN holder TEXT;
ALTER TABLE x_writes ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
