-- A connect started from a UI session completes only in a browser carrying that session
-- (issue 16): the SHA-256 of the session token that started it; NULL for a JSON API start.
ALTER TABLE oauth_pending ADD COLUMN session_hash TEXT;
