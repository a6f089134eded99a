//! The `xads` command line (PRODUCT.md §7). `main` only parses and calls [`run`].

use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;

/// The X (Twitter) Ads integration of a Paid UA dashboard.
#[derive(Debug, Parser)]
#[command(name = "xads", version, about)]
pub struct Cli {
    /// Log lines on stderr as text or JSON. `serve` logs JSON by default; other commands log
    /// nothing unless this or RUST_LOG asks.
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        env = "XADS_LOG_FORMAT"
    )]
    pub log_format: Option<crate::telemetry::LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Installs the logs this command writes (`telemetry::choose`).
    pub fn init_logs(&self) {
        crate::telemetry::init_for(matches!(self.command, Command::Serve), self.log_format);
    }
}

/// The text of a failure for a person: each cause once. A message that repeats what the one
/// before it already said (an error wrapping another and printing it too) is left out.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || out.contains(text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(text);
    }
    out
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, the UI and the background jobs (configured by the environment).
    Serve,
    /// Everything on loopback with a built-in fake X: prints the URL and a login key.
    Demo,
    /// Apply database migrations and exit.
    Migrate,
    /// Tenants of the dashboard.
    Tenant {
        /// What to do with tenants.
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The tenant's ad accounts.
    Accounts(crate::commands::TenantArg),
    /// The tenant's campaigns: list, create, pause, resume, delete.
    Campaigns {
        /// What to do with campaigns.
        #[command(subcommand)]
        command: crate::commands::CampaignsCommand,
    },
    /// Run the fake X Ads API standalone (prints its URL) to develop against.
    FakeX(crate::commands::FakeXArgs),
    /// Sync stats from X now: every connected ad account, or `--account`; `--from/--to`: a
    /// backfill through X's asynchronous analytics jobs.
    Sync(crate::sync::cli::SyncArgs),
    /// Encryption keys (`xads keys rotate`).
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// FX reference rates (`xads fx import FILE`).
    Fx {
        /// What to do with rates.
        #[command(subcommand)]
        command: crate::sync::cli::FxCommand,
    },
}

/// `xads tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints its API key once, alone on the last line.
    Create {
        /// The tenant's display name.
        name: String,
    },
    /// List the tenants: id, name, created, current key issued, ad accounts.
    List,
    /// Replace the tenant's API key: prints the new key once, alone on the last line. The old
    /// key stops working at once on the database (and within 30 s on every running instance,
    /// which trusts a key it verified for that long); the tenant's web UI sessions end.
    RotateKey {
        /// The tenant, by id (`ten_…`) or name.
        tenant: String,
    },
}

/// `xads keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-seal every stored secret under XADS_ENCRYPTION_KEY (the new key). The old key comes
    /// from XADS_OLD_ENCRYPTION_KEY or --old-key-file, never from the command line. Resumable:
    /// run it again until nothing is left; safe while instances run with both keys.
    Rotate {
        /// A file (mode 0600) holding the old key, base64, instead of XADS_OLD_ENCRYPTION_KEY.
        #[arg(long)]
        old_key_file: Option<std::path::PathBuf>,
        /// Re-seal at most this many rows, then stop.
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::from_env()?;
            let app = Application::build(config).await?;
            app.run(shutdown_signal()).await
        }
        Command::Demo => crate::demo::run().await,
        Command::Accounts(who) => crate::commands::accounts(who).await,
        Command::Campaigns { command } => crate::commands::campaigns(command).await,
        Command::FakeX(args) => crate::commands::fake_x(args).await,
        Command::Migrate => {
            let db = connect_db().await?;
            let applied = db.migrate(Clock::default().now()).await?;
            println!(
                "{}: {} migration(s) applied",
                db.backend().as_str(),
                applied.len()
            );
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { name },
        } => {
            let db = connect_db().await?;
            let clock = Clock::default();
            db.migrate(clock.now()).await?;
            let (tenant, key) = crate::store::tenants::create(&db, &name, clock.now()).await?;
            println!("tenant {} created: {}", tenant.id, tenant.name);
            println!("API key (shown once; keep it safe):");
            println!("{}", key.0);
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            let db = connect_db().await?;
            db.migrate(Clock::default().now()).await?;
            let tenants = crate::store::tenants::list(&db).await?;
            print!("{}", crate::commands::tenant_table(&tenants));
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::RotateKey { tenant },
        } => {
            let db = connect_db().await?;
            let clock = Clock::default();
            db.migrate(clock.now()).await?;
            let tenant = crate::commands::find_tenant(&db, &tenant).await?;
            let key = crate::store::tenants::rotate_key(&db, &tenant.id, clock.now()).await?;
            println!(
                "tenant {} ({}): new API key issued; the old one no longer works (running instances may accept it for up to {} s more) and its web sessions were ended",
                tenant.id,
                tenant.name,
                crate::web::auth::KEY_CACHE_TTL.as_secs()
            );
            println!("API key (shown once; keep it safe):");
            println!("{}", key.0);
            Ok(())
        }
        Command::Sync(args) => {
            let state = crate::app::AppState::from_config(Config::from_env()?).await?;
            crate::sync::cli::sync(&state, args).await
        }
        Command::Fx { command } => crate::sync::cli::fx(command).await,
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    old_key_file,
                    limit,
                },
        } => crate::keys::rotate_command(old_key_file, limit).await,
    }
}

async fn connect_db() -> anyhow::Result<Db> {
    let config = Config::from_env()?;
    Ok(Db::connect(&config.database_url).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_each_cause_once() {
        // What `xads` printed before: the driver's text three times over.
        let inner = anyhow::anyhow!("(code: 14) unable to open database file");
        let e = inner
            .context("error returned from database: (code: 14) unable to open database file")
            .context(
                "database: error returned from database: (code: 14) unable to open database file",
            );
        assert_eq!(
            error_text(&e),
            "database: error returned from database: (code: 14) unable to open database file"
        );
        let e = anyhow::anyhow!("connection refused").context("sync of 18ce54d4x5t failed");
        assert_eq!(
            error_text(&e),
            "sync of 18ce54d4x5t failed: connection refused"
        );
    }
}
