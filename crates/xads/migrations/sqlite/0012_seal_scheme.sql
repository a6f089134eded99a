-- Secrets at rest (issue 16, item 6). A connection's tokens are bound to its token_version (so a
-- ciphertext of an earlier version of the row no longer opens), and every sealed value records
-- the key it is sealed under (so `xads keys rotate` finds what the old key still holds).
-- seal_scheme 1: associated data `connection:<id>:<field>` (rows sealed before this migration;
-- opened once that way, then re-sealed as 2); 2: `connection:<id>:<field>:v<token_version>`.
ALTER TABLE connections ADD COLUMN seal_scheme SMALLINT NOT NULL DEFAULT 1;
-- First 8 bytes of a hash of the sealing key, hex (crypto::Sealer::key_id); NULL: not recorded.
ALTER TABLE connections ADD COLUMN key_id TEXT;
ALTER TABLE oauth_pending ADD COLUMN key_id TEXT;
