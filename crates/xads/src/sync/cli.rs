//! `xads sync` and `xads fx import`: a progress bar on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Progress, Request};
use crate::config::Config;
use crate::services::Services;
use crate::store::sync_runs::{self, SyncTarget, Trigger};

/// `xads sync [--account ID] [--from T] [--to T]`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only this ad account (default: every connected account).
    #[arg(long)]
    pub account: Option<String>,
    /// Start of a backfill: RFC 3339 or YYYY-MM-DD (UTC midnight).
    #[arg(long)]
    pub from: Option<String>,
    /// End of a backfill (exclusive): RFC 3339 or YYYY-MM-DD (UTC midnight); default now.
    #[arg(long)]
    pub to: Option<String>,
}

/// `xads fx …`.
#[derive(Debug, clap::Subcommand)]
pub enum FxCommand {
    /// Import rates: ECB `eurofxref` XML (daily or historical) or CSV `date,currency,usd_per_unit`;
    /// stored rows of the affected dates get their USD figures re-converted.
    Import {
        /// The file to read.
        file: PathBuf,
    },
}

fn time_arg(name: &str, raw: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.to_utc());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| anyhow::anyhow!("--{name}: expected RFC 3339 or YYYY-MM-DD, got {raw:?}"))
}

/// A progress bar on a terminal; one line per step otherwise (logs, CI).
struct Bar {
    label: String,
    tty: bool,
    last: Mutex<u64>,
}

impl Progress for Bar {
    fn step(&self, done: u64, total: u64, what: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let width = 30u64;
            let filled = (done * width).checked_div(total).unwrap_or(0).min(width) as usize;
            let _ = write!(
                err,
                "\r\x1b[2K{} [{}{}] {done}/{total} {what}",
                self.label,
                "#".repeat(filled),
                "-".repeat(width as usize - filled)
            );
            if done >= total {
                let _ = writeln!(err);
            }
        } else {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            *last = done;
            let _ = writeln!(err, "{}: {done}/{total} {what}", self.label);
        }
        let _ = err.flush();
    }
}

/// Runs `xads sync`: every connected account (or one), sequentially, in this process.
pub async fn sync(state: &Services, args: SyncArgs) -> anyhow::Result<()> {
    super::import_rates(state, &crate::fx::bundled()).await?;
    let window = match (&args.from, &args.to) {
        (None, None) => None,
        (from, to) => {
            let to = match to {
                Some(t) => time_arg("to", t)?,
                None => state.clock.now(),
            };
            let from = match from {
                Some(f) => time_arg("from", f)?,
                None => to - super::TRAILING,
            };
            Some((from, to))
        }
    };
    let targets: Vec<SyncTarget> = sync_runs::targets(&state.db)
        .await?
        .into_iter()
        .filter(|t| args.account.as_ref().is_none_or(|a| *a == t.account_id))
        .collect();
    if targets.is_empty() {
        anyhow::bail!(
            "no connected ad account{} to sync",
            args.account
                .as_ref()
                .map(|a| format!(" {a}"))
                .unwrap_or_default()
        );
    }
    if let Some((from, to)) = window {
        let request = super::backfill::check(state.clock.now(), from, to, None, None)
            .map_err(|e| anyhow::anyhow!("--from/--to: {}", e.public_message()))?;
        return backfill(state, &targets, &request).await;
    }
    let request = Request::default();
    let mut failed = 0;
    for t in &targets {
        let bar = Bar {
            label: format!("sync {}", t.account_id),
            tty: std::io::stderr().is_terminal(),
            last: Mutex::new(0),
        };
        match super::run(state, t, Trigger::Cli, &request, &bar).await {
            Ok((id, c)) => println!(
                "{} {}: succeeded ({} X calls, {} active entities, {} rows)",
                t.account_id, id, c.x_calls, c.active_entities, c.rows_upserted
            ),
            Err(e) => {
                failed += 1;
                println!("{}: failed: {e}", t.account_id);
            }
        }
    }
    state.db.close().await;
    if failed > 0 {
        anyhow::bail!("{failed} of {} account(s) failed to sync", targets.len());
    }
    Ok(())
}

/// `xads sync --from --to`: a backfill per account through X's asynchronous jobs, driven in
/// this process (`sync::backfill::drive`, the server's own code) with a progress bar. One left
/// running (X or the database unreachable) is resumed by a server instance's worker.
async fn backfill(
    state: &Services,
    targets: &[SyncTarget],
    request: &super::backfill::BackfillRequest,
) -> anyhow::Result<()> {
    let holder = crate::store::new_id("bfr");
    let mut failed = 0;
    for t in targets {
        let bar = Bar {
            label: format!("backfill {}", t.account_id),
            tty: std::io::stderr().is_terminal(),
            last: Mutex::new(0),
        };
        let started = super::backfill::start(state, t, request, "cli", Some(&holder)).await;
        let result = match started {
            Ok(b) => super::backfill::drive(state, &b.id, &holder, &bar).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(b) if b.status == "succeeded" => println!(
                "{} {}: succeeded ({} jobs, {} rows)",
                t.account_id, b.id, b.jobs_done, b.rows
            ),
            Ok(b) => {
                failed += 1;
                println!(
                    "{} {}: {}: {}",
                    t.account_id,
                    b.id,
                    b.status,
                    b.error
                        .as_deref()
                        .unwrap_or("interrupted; a server instance resumes it")
                );
            }
            Err(e) => {
                failed += 1;
                println!("{}: failed: {}", t.account_id, e.public_message());
            }
        }
    }
    state.db.close().await;
    if failed > 0 {
        anyhow::bail!("{failed} of {} backfill(s) did not succeed", targets.len());
    }
    Ok(())
}

/// Runs `xads fx import FILE`.
pub async fn fx(command: FxCommand) -> anyhow::Result<()> {
    let FxCommand::Import { file } = command;
    let text =
        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let rates =
        crate::fx::parse_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let config = Config::from_env()?;
    let db = crate::db::Db::connect(&config.database_url).await?;
    let clock = crate::clock::Clock::default();
    db.migrate(clock.now()).await?;
    let (changed, rows) = super::import_global_rates(&db, &rates, clock.now()).await?;
    println!(
        "{}: {} rate(s) read, {} currenc(ies) changed, {} stored row(s) re-converted",
        file.display(),
        rates.len(),
        changed,
        rows
    );
    db.close().await;
    Ok(())
}
