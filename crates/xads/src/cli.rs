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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
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
    /// Sync stats from X now: every connected ad account, or `--account`; `--from/--to` backfill.
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
