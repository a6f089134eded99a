-- A failed run keeps the API's error code beside its message (issue 14: a stored failure keeps a
-- code and a safe message; the cause is in the log, never in the row).
ALTER TABLE sync_runs ADD COLUMN error_code TEXT;
