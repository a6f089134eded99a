//! `xads keys rotate`: re-seals every stored secret under the current `XADS_ENCRYPTION_KEY`.
//!
//! Sealed values are a connection's token pair (`connections.access_ct`, `refresh_ct`) and a
//! pending authorization's PKCE verifier or request-token secret (`oauth_pending.secret_ct`);
//! each row records the id of the key that sealed it (`key_id`). Rotation walks the rows not yet
//! sealed under the new key, in id order, and re-seals each in its own conditional update (the
//! row must be unchanged since it was read), so it can be interrupted and run again, and is safe
//! while instances run:
//!
//! 1. deploy every instance with `XADS_ENCRYPTION_KEY=<new>` and `XADS_OLD_ENCRYPTION_KEY=<old>`
//!    (they open values sealed under either key and seal only with the new one);
//! 2. run `xads keys rotate` with the same two variables (or `--old-key-file`) until it reports
//!    nothing left;
//! 3. remove `XADS_OLD_ENCRYPTION_KEY` from every instance and destroy the old key.

use std::path::PathBuf;

use crate::config::Config;
use crate::crypto::Sealer;
use crate::db::{Db, DbError};
use crate::store::connections;

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotateReport {
    /// Rows re-sealed under the new key by this run.
    pub resealed: u64,
    /// Rows that changed while this run looked at them (another instance refreshed, consumed or
    /// re-sealed them first); `remaining` says whether any still needs a run.
    pub raced: u64,
    /// Rows that open with neither key (`connection:<id>` or `pending:<hash prefix>`).
    pub failed: Vec<String>,
    /// Rows still not sealed under the new key after this run (0 when done).
    pub remaining: u64,
}

/// Re-seals up to `limit` rows (all when `None`) under `sealer`'s current key; `sealer` must also
/// hold the old key (`Sealer::with_previous`) unless every row is already under the new one.
pub async fn rotate(db: &Db, sealer: &Sealer, limit: Option<u64>) -> Result<RotateReport, DbError> {
    const BATCH: i64 = 100;
    let mut report = RotateReport::default();
    let mut budget = limit.unwrap_or(u64::MAX);
    let (mut after_connection, mut after_pending) = (String::new(), String::new());
    'walk: loop {
        let (ids, hashes) = connections::sealed_elsewhere(
            db,
            sealer.key_id(),
            &after_connection,
            &after_pending,
            BATCH,
        )
        .await?;
        if ids.is_empty() && hashes.is_empty() {
            break;
        }
        for id in ids {
            if budget == 0 {
                break 'walk;
            }
            budget -= 1;
            match connections::reseal_connection(db, sealer, &id).await {
                Ok(true) => report.resealed += 1,
                Ok(false) => report.raced += 1,
                Err(DbError::Corrupt(why)) => {
                    tracing::warn!(connection.id = %id, why, "sealed tokens open with neither key");
                    report.failed.push(format!("connection:{id}"));
                }
                Err(e) => return Err(e),
            }
            after_connection = id;
        }
        for hash in hashes {
            if budget == 0 {
                break 'walk;
            }
            budget -= 1;
            match connections::reseal_pending(db, sealer, &hash).await {
                Ok(true) => report.resealed += 1,
                Ok(false) => report.raced += 1,
                Err(DbError::Corrupt(why)) => {
                    tracing::warn!(pending = %&hash[..12.min(hash.len())], why, "sealed verifier opens with neither key");
                    report
                        .failed
                        .push(format!("pending:{}", &hash[..12.min(hash.len())]));
                }
                Err(e) => return Err(e),
            }
            after_pending = hash;
        }
    }
    let (c, p) = connections::count_sealed_elsewhere(db, sealer.key_id()).await?;
    report.remaining = c + p;
    Ok(report)
}

/// `xads keys rotate [--old-key-file PATH] [--limit N]`: the new key from
/// `XADS_ENCRYPTION_KEY`, the old one from `XADS_OLD_ENCRYPTION_KEY` or the file (never from the
/// command line, where `ps` would show it).
pub async fn rotate_command(
    old_key_file: Option<PathBuf>,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let Some(new_key) = &config.encryption_key else {
        anyhow::bail!("XADS_ENCRYPTION_KEY: set it to the new key (32 random bytes, base64)");
    };
    let new = Sealer::from_base64(new_key.expose())
        .map_err(|e| anyhow::anyhow!("XADS_ENCRYPTION_KEY: {e}"))?;
    let old = match (&old_key_file, &config.old_encryption_key) {
        (Some(path), _) => {
            Sealer::read_key_file(path).map_err(|e| anyhow::anyhow!("--old-key-file: {e}"))?
        }
        (None, Some(old)) => Sealer::from_base64(old.expose())
            .map_err(|e| anyhow::anyhow!("XADS_OLD_ENCRYPTION_KEY: {e}"))?,
        (None, None) => anyhow::bail!(
            "give the old key in XADS_OLD_ENCRYPTION_KEY or with --old-key-file (never on the command line)"
        ),
    };
    if old.key_id() == new.key_id() {
        anyhow::bail!("the old and the new key are the same key");
    }
    let sealer = new.with_previous(&old);
    let db = Db::connect(&config.database_url).await?;
    db.migrate(crate::clock::Clock::default().now()).await?;
    let report = rotate(&db, &sealer, limit).await?;
    println!(
        "re-sealed {} secret(s) under key {}; {} changed meanwhile; {} left under another key",
        report.resealed,
        sealer.key_id(),
        report.raced,
        report.remaining
    );
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} row(s) open with neither key: {}",
            report.failed.len(),
            report.failed.join(", ")
        );
    }
    if report.remaining > 0 {
        println!("run `xads keys rotate` again to continue");
    }
    Ok(())
}
