//! CLI commands that act for a tenant (`accounts`, `campaigns …`) and `fake-x`. They go through
//! the same domain functions as the API ([`crate::manage`] with a [`Scope`]).

use std::net::SocketAddr;

use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::config::Config;
use crate::manage::{self, ManageError, Scope};
use crate::store::connections;
use crate::store::entities::Kind;
use crate::store::tenants::{self, Tenant};

/// Who the command acts for.
#[derive(Debug, Args)]
pub struct TenantArg {
    /// The tenant, by id (`ten_…`) or name.
    #[arg(long, env = "XADS_TENANT")]
    pub tenant: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `xads campaigns …`.
#[derive(Debug, Subcommand)]
pub enum CampaignsCommand {
    /// List the campaigns of an ad account (from the local mirror; `--refresh` reads X first).
    List {
        #[command(flatten)]
        who: TenantArg,
        /// The ad account id.
        #[arg(long)]
        account: String,
        /// Read through to X before listing.
        #[arg(long)]
        refresh: bool,
    },
    /// Create a campaign (dry-run unless X_ADS_LIVE_MODE=true).
    Create {
        #[command(flatten)]
        who: TenantArg,
        /// The ad account id.
        #[arg(long)]
        account: String,
        /// The campaign's name.
        #[arg(long)]
        name: String,
        /// The funding instrument id.
        #[arg(long)]
        funding_instrument: String,
        /// Daily budget in the account's currency (e.g. 50.00).
        #[arg(long)]
        daily_budget: Option<Decimal>,
        /// Total budget in the account's currency.
        #[arg(long)]
        total_budget: Option<Decimal>,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Pause a campaign.
    Pause(CampaignId),
    /// Resume a campaign.
    Resume(CampaignId),
    /// Delete a campaign.
    Delete(CampaignId),
}

/// A campaign of an ad account.
#[derive(Debug, Args)]
pub struct CampaignId {
    #[command(flatten)]
    who: TenantArg,
    /// The ad account id.
    #[arg(long)]
    account: String,
    /// The campaign id.
    id: String,
}

/// `xads fake-x` options. Every credential here is the fake's own, never X's.
#[derive(Debug, Args)]
pub struct FakeXArgs {
    /// Port on 127.0.0.1 (a free one is used when this one is taken).
    #[arg(long, default_value_t = 9090)]
    pub port: u16,
    /// OAuth redirect URI(s) the fake accepts (repeatable; `oob` allows the OAuth 1.0a PIN flow).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// The fake app's OAuth 2.0 client id.
    #[arg(long, default_value = "fake-client-id")]
    pub client_id: String,
    /// The fake app's OAuth 2.0 client secret.
    #[arg(long, default_value = "fake-client-secret")]
    pub client_secret: String,
    /// The fake app's OAuth 1.0a consumer key.
    #[arg(long, default_value = "fake-consumer-key")]
    pub consumer_key: String,
    /// The fake app's OAuth 1.0a consumer secret.
    #[arg(long, default_value = "fake-consumer-secret")]
    pub consumer_secret: String,
    /// Seed of the generated world (ids and metrics): same seed, same world.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Campaigns seeded per ad account.
    #[arg(long, default_value_t = 3)]
    pub campaigns_per_account: usize,
    /// Line items seeded per campaign.
    #[arg(long, default_value_t = 2)]
    pub line_items_per_campaign: usize,
    /// App campaigns seeded in the USD account after the others (their line items' objective
    /// APP_INSTALLS, or APP_ENGAGEMENTS every second one: installs under MOBILE_CONVERSION).
    #[arg(long, default_value_t = 1)]
    pub app_campaigns: usize,
    /// Promoted tweets seeded per line item.
    #[arg(long, default_value_t = 1)]
    pub promoted_tweets_per_line_item: usize,
    /// Promotable tweets seeded per ad account.
    #[arg(long, default_value_t = 6)]
    pub tweets_per_account: usize,
    /// Media-library items seeded per ad account.
    #[arg(long, default_value_t = 3)]
    pub media_per_account: usize,
    /// Days of stats history before now.
    #[arg(long, default_value_t = 30)]
    pub history_days: i64,
}

async fn state() -> anyhow::Result<AppState> {
    AppState::from_config(Config::from_env()?).await
}

/// The tenant named by id or name (a name must be unique).
pub async fn resolve_tenant(state: &AppState, which: &str) -> anyhow::Result<Tenant> {
    find_tenant(&state.db, which).await
}

/// [`resolve_tenant`] on a bare database.
pub async fn find_tenant(db: &crate::db::Db, which: &str) -> anyhow::Result<Tenant> {
    if let Some(t) = tenants::get(db, which).await? {
        return Ok(t);
    }
    let mut found = tenants::by_name(db, which).await?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => anyhow::bail!("no tenant with id or name {which:?} (see `xads tenant create`)"),
        n => anyhow::bail!("{n} tenants are named {which:?}: pass the id instead"),
    }
}

fn manage_err(e: ManageError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn micros(d: Option<Decimal>) -> anyhow::Result<Option<i64>> {
    d.map(|d| {
        (d * Decimal::from(1_000_000))
            .trunc()
            .to_i64()
            .ok_or_else(|| anyhow::anyhow!("amount too large: {d}"))
    })
    .transpose()
}

/// An amount of the campaign's currency: `50.00 USD`, `-` when unset.
fn amount(v: &Value, currency: &Value) -> String {
    match (v.as_i64(), currency.as_str()) {
        (None, _) => "-".into(),
        (Some(_), c) => format!(
            "{} {}",
            crate::ui::html::money(v.as_i64()),
            c.unwrap_or("(currency unknown)")
        ),
    }
}

/// `xads tenant list`: one line per tenant under a header (or a hint when there is none).
pub fn tenant_table(list: &[tenants::TenantSummary]) -> String {
    if list.is_empty() {
        return "no tenants (create one with `xads tenant create NAME`)\n".into();
    }
    let mut out = format!(
        "{:<24} {:<17} {:<17} {:>8}  NAME\n",
        "ID", "CREATED (UTC)", "KEY ISSUED (UTC)", "ACCOUNTS"
    );
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    for t in list {
        out.push_str(&format!(
            "{:<24} {:<17} {:<17} {:>8}  {}\n",
            t.tenant.id,
            when(t.created_at),
            t.key_issued_at.map(when).unwrap_or_else(|| "no key".into()),
            t.ad_accounts,
            t.tenant.name
        ));
    }
    out
}

/// `xads accounts`.
pub async fn accounts(who: TenantArg) -> anyhow::Result<()> {
    let state = state().await?;
    let tenant = resolve_tenant(&state, &who.tenant).await?;
    let list = connections::ad_accounts(&state.db, &tenant.id).await?;
    if who.json {
        let data: Vec<Value> = list
            .iter()
            .map(|a| json!({"id": a.id, "name": a.name, "timezone": a.timezone, "currency": a.currency}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "data": data }))?
        );
    } else if list.is_empty() {
        println!("no ad accounts (connect X on the Integrations page first)");
    } else {
        println!("{:<16} {:<8} {:<22} NAME", "ID", "CURRENCY", "TIME ZONE");
        for a in &list {
            println!(
                "{:<16} {:<8} {:<22} {}",
                a.id,
                a.currency.as_deref().unwrap_or("-"),
                a.timezone,
                a.name
            );
        }
    }
    Ok(())
}

fn print_campaign(c: &Value, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(c)?);
    } else {
        println!(
            "{} {} ({}){}",
            c["id"].as_str().unwrap_or(""),
            c["name"].as_str().unwrap_or(""),
            if c["deleted"].as_bool() == Some(true) {
                "deleted"
            } else if c["paused"].as_bool() == Some(true) {
                "paused"
            } else {
                "active"
            },
            if c["dry_run"].as_bool() == Some(true) {
                " [dry-run]"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// `xads campaigns …`.
pub async fn campaigns(cmd: CampaignsCommand) -> anyhow::Result<()> {
    let state = state().await?;
    let (who, account) = match &cmd {
        CampaignsCommand::List { who, account, .. }
        | CampaignsCommand::Create { who, account, .. } => (who, account),
        CampaignsCommand::Pause(c) | CampaignsCommand::Resume(c) | CampaignsCommand::Delete(c) => {
            (&c.who, &c.account)
        }
    };
    let tenant = resolve_tenant(&state, &who.tenant).await?;
    let as_json = who.json;
    let scope = Scope {
        state: state.services.clone(),
        tenant,
        account_id: account.clone(),
        idem_key: None,
    };
    match cmd {
        CampaignsCommand::List { refresh, .. } => {
            if refresh {
                scope.check_account().await.map_err(manage_err)?;
                let session = scope.session().await.map_err(manage_err)?;
                manage::mirror::refresh(&scope, &session, Kind::Campaign)
                    .await
                    .map_err(manage_err)?;
            }
            let page = manage::mirror::page(&scope, Kind::Campaign, None, None, Some(1000))
                .await
                .map_err(manage_err)?;
            let rows = page.documents().map_err(manage_err)?;
            if as_json {
                let page = json!({ "data": rows, "next_cursor": page.next_cursor });
                println!("{}", serde_json::to_string_pretty(&page)?);
                return Ok(());
            }
            println!(
                "{:<20} {:<8} {:>18} {:>18}  NAME",
                "ID", "STATUS", "DAILY", "TOTAL"
            );
            for c in rows.iter().filter(|c| c["deleted"].as_bool() != Some(true)) {
                println!(
                    "{:<20} {:<8} {:>18} {:>18}  {}{}",
                    c["id"].as_str().unwrap_or(""),
                    if c["paused"].as_bool() == Some(true) {
                        "paused"
                    } else {
                        "active"
                    },
                    amount(&c["daily_budget_amount_local_micro"], &c["currency"]),
                    amount(&c["total_budget_amount_local_micro"], &c["currency"]),
                    c["name"].as_str().unwrap_or(""),
                    if c["dry_run"].as_bool() == Some(true) {
                        " [dry-run]"
                    } else {
                        ""
                    },
                );
            }
            Ok(())
        }
        CampaignsCommand::Create {
            name,
            funding_instrument,
            daily_budget,
            total_budget,
            paused,
            ..
        } => {
            let body = json!({
                "name": name,
                "funding_instrument_id": funding_instrument,
                "daily_budget_amount_local_micro": micros(daily_budget)?,
                "total_budget_amount_local_micro": micros(total_budget)?,
                "paused": paused,
            });
            let manage::Created(c) = manage::campaigns::create(&scope, &body)
                .await
                .map_err(manage_err)?;
            print_campaign(&c.data, as_json)
        }
        CampaignsCommand::Pause(c) => set_paused(&scope, &c.id, true, as_json).await,
        CampaignsCommand::Resume(c) => set_paused(&scope, &c.id, false, as_json).await,
        CampaignsCommand::Delete(c) => {
            let gone = manage::campaigns::delete(&scope, &c.id)
                .await
                .map_err(manage_err)?;
            print_campaign(&gone.data, as_json)
        }
    }
}

async fn set_paused(scope: &Scope, id: &str, paused: bool, as_json: bool) -> anyhow::Result<()> {
    let c = manage::campaigns::update(scope, id, &json!({ "paused": paused }))
        .await
        .map_err(manage_err)?;
    print_campaign(&c.data, as_json)
}

/// `xads fake-x`: the fake X standalone on loopback until Ctrl-C. Prints the URL first, then what
/// a client needs to connect: the fake app's credentials, ready-made tokens of the seeded user
/// and the seeded accounts (all the fake's own; the service's configuration is never read).
pub async fn fake_x(args: FakeXArgs) -> anyhow::Result<()> {
    let wanted = SocketAddr::from(([127, 0, 0, 1], args.port));
    let addr = crate::demo::pick_addr(wanted)?;
    let mut config = xads_fake::FakeConfig {
        seed: args.seed,
        client_id: args.client_id,
        client_secret: args.client_secret,
        consumer_key: args.consumer_key,
        consumer_secret: args.consumer_secret,
        campaigns_per_account: args.campaigns_per_account,
        line_items_per_campaign: args.line_items_per_campaign,
        app_campaigns: args.app_campaigns,
        promoted_tweets_per_line_item: args.promoted_tweets_per_line_item,
        tweets_per_account: args.tweets_per_account,
        media_per_account: args.media_per_account,
        history_days: args.history_days,
        ..xads_fake::FakeConfig::default()
    };
    if !args.redirect_uris.is_empty() {
        config.redirect_uris = args.redirect_uris;
    }
    let fake = xads_fake::FakeX::bind(addr, config).await?;
    let url = fake.base_url().as_str().trim_end_matches('/').to_owned();
    println!("{url}");
    print!("{}", fake_x_connect_info(&fake, &url));
    println!(
        "Point X_ADS_API_BASE_URL and X_API_BASE_URL at it, X_OAUTH_AUTHORIZE_URL at {url}/i/oauth2/authorize. Ctrl-C stops."
    );
    crate::app::shutdown_signal().await;
    fake.shutdown().await;
    Ok(())
}

/// What `xads fake-x` prints after its URL: human lines, then `export FAKE_X_…=` lines a shell
/// (or `scripts/sdk-conformance.sh`) can source.
fn fake_x_connect_info(fake: &xads_fake::FakeX, url: &str) -> String {
    let cfg = fake.config();
    let seed = fake.seed_info();
    let (token, token_secret) = fake.issue_oauth1_tokens(&seed.user_id);
    let bearer = fake.issue_tokens(
        &seed.user_id,
        "ads.read ads.write offline.access media.write",
    );
    let mut out = format!(
        "fake X (its own credentials, not X's):\n  OAuth 2.0 app: client id {}, client secret {}, redirect URIs {}\n  OAuth 1.0a app: consumer key {}, consumer secret {}\n  seeded user {} (@{}), seed {}\n",
        cfg.client_id,
        cfg.client_secret,
        cfg.redirect_uris.join(" "),
        cfg.consumer_key,
        cfg.consumer_secret,
        seed.user_id,
        seed.screen_name,
        cfg.seed,
    );
    for a in &seed.accounts {
        let owner = if a.user_id == seed.user_id {
            ""
        } else {
            " (another user's: 403 ACCOUNT_NOT_FOUND)"
        };
        out.push_str(&format!(
            "  account {} {} {}, funding instrument {}{owner}\n",
            a.id, a.currency, a.timezone, a.funding_instrument_id
        ));
    }
    for (k, v) in [
        ("URL", url),
        ("CLIENT_ID", &cfg.client_id),
        ("CLIENT_SECRET", &cfg.client_secret),
        ("CONSUMER_KEY", &cfg.consumer_key),
        ("CONSUMER_SECRET", &cfg.consumer_secret),
        ("ACCESS_TOKEN", &token),
        ("ACCESS_TOKEN_SECRET", &token_secret),
        ("BEARER_TOKEN", &bearer.access_token),
        ("USER_ID", &seed.user_id),
        ("ACCOUNT_ID", &seed.usd_account_id),
        ("FOREIGN_ACCOUNT_ID", &seed.foreign_account_id),
    ] {
        out.push_str(&format!("export FAKE_X_{k}={v}\n"));
    }
    out
}
