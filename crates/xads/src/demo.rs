//! `xads demo`: the whole product on loopback with no X account. Starts the fake X (seeded with
//! USD, JPY and KWD ad accounts, funding instruments, tweets, campaigns and two weeks of stats),
//! the service in live mode against it, creates a tenant, and prints the URL, its data folder and
//! the login key. The folder's `demo.env` lets other `xads` commands act on the running demo.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use xads_fake::{FakeConfig, FakeX};

use crate::app::{Application, shutdown_signal};
use crate::config::Config;

/// Where the demo listens unless `XADS_BIND` says otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Days of stats history the demo's fake X holds.
pub const HISTORY_DAYS: i64 = 14;

/// The address to serve on: `wanted` when it is free, else a free port on the same host.
pub fn pick_addr(wanted: SocketAddr) -> std::io::Result<SocketAddr> {
    match TcpListener::bind(wanted) {
        Ok(l) => l.local_addr(),
        Err(_) => TcpListener::bind(SocketAddr::new(wanted.ip(), 0))?.local_addr(),
    }
}

/// A running demo: the service (not yet serving), the fake, and the tenant's login key.
pub struct Demo {
    /// The built service.
    pub app: Application,
    /// The fake X it talks to.
    pub fake: FakeX,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The demo tenant's login (API) key.
    pub login_key: String,
    /// The demo's data folder (the SQLite file unless `DATABASE_URL` named another database,
    /// and [`ENV_FILE`]), removed by [`Demo::cleanup`].
    pub temp_dir: Option<std::path::PathBuf>,
}

/// The file in the data folder that holds the demo's configuration as `NAME='value'` lines, so
/// `xads` commands (`tenant list`, `sync`, …) run against the demo's database and fake X while
/// it runs: `set -a; . <folder>/demo.env; set +a`. Mode 0600: it holds the demo's throwaway
/// encryption key and the fake's credentials.
pub const ENV_FILE: &str = "demo.env";

/// The variables a command needs to act on the demo, from the demo's configuration.
const ENV_FILE_VARS: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "XADS_ENCRYPTION_KEY",
    "X_ADS_LIVE_MODE",
    "X_ADS_CLIENT_ID",
    "X_ADS_CLIENT_SECRET",
    "X_ADS_CONSUMER_KEY",
    "X_ADS_CONSUMER_SECRET",
    "X_ADS_REDIRECT_URI",
    "X_ADS_API_BASE_URL",
    "X_API_BASE_URL",
    "X_OAUTH_AUTHORIZE_URL",
    "XADS_FX_URL",
];

fn write_env_file(dir: &std::path::Path, vars: &HashMap<String, String>) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = String::from(
        "# xads demo: `set -a; . THIS_FILE; set +a` runs xads commands against the demo while it runs.\n",
    );
    for name in ENV_FILE_VARS {
        if let Some(v) = vars.get(*name).filter(|v| !v.is_empty()) {
            text.push_str(&format!("{name}='{}'\n", v.replace('\'', r"'\''")));
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(dir.join(ENV_FILE))?.write_all(text.as_bytes())
}

impl Demo {
    /// Starts the fake X and builds the service against it, with `env` as the base environment
    /// (`XADS_BIND`, `DATABASE_URL`, `REDIS_URL`, `XADS_SYNC_INTERVAL`, … are honoured).
    pub async fn start(env: &HashMap<String, String>) -> anyhow::Result<Demo> {
        let wanted: SocketAddr = env
            .get("XADS_BIND")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_BIND)
            .parse()
            .map_err(|e| anyhow::anyhow!("XADS_BIND: expected host:port, {e}"))?;
        // The demo is for this machine only: loopback, whatever host XADS_BIND names.
        let addr = pick_addr(SocketAddr::from(([127, 0, 0, 1], wanted.port())))?;
        let url = format!("http://{addr}");
        let callback = format!("{url}/oauth/x_ads/callback");

        let fake_config = FakeConfig {
            redirect_uris: vec![callback.clone()],
            history_days: HISTORY_DAYS,
            // Media previews come from the fake's own stand-in of X's CDN (no internet).
            media_on_own_host: true,
            // One app campaign, so the demo shows installs and cost per install.
            app_campaigns: 1,
            ..FakeConfig::default()
        };
        let (client_id, client_secret, consumer_key, consumer_secret) = (
            fake_config.client_id.clone(),
            fake_config.client_secret.clone(),
            fake_config.consumer_key.clone(),
            fake_config.consumer_secret.clone(),
        );
        let fake = FakeX::start(fake_config).await?;
        let fake_base = fake.base_url().as_str().trim_end_matches('/').to_owned();

        let dir = std::env::temp_dir().join(format!(
            "xads-demo-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.recursive(true).create(&dir)?;
        let database_url = match env.get("DATABASE_URL").filter(|v| !v.trim().is_empty()) {
            Some(u) => u.clone(),
            None => format!("sqlite://{}/xads.db", dir.display()),
        };
        let temp_dir = Some(dir.clone());
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);

        let mut vars = env.clone();
        for (k, v) in [
            ("XADS_BIND", addr.to_string()),
            ("DATABASE_URL", database_url),
            ("XADS_ENCRYPTION_KEY", STANDARD.encode(key)),
            ("X_ADS_LIVE_MODE", "true".into()),
            ("X_ADS_CLIENT_ID", client_id),
            ("X_ADS_CLIENT_SECRET", client_secret),
            ("X_ADS_CONSUMER_KEY", consumer_key),
            ("X_ADS_CONSUMER_SECRET", consumer_secret),
            ("X_ADS_REDIRECT_URI", callback),
            // The demo makes no call outside this machine: no ECB fetch. Its USD comes from the
            // bundled table, and the pages mark USD converted with an old rate as estimated,
            // with the rate and its date (what a new user should see, rather than fresh-looking
            // rates a stand-in would invent).
            ("XADS_FX_URL", "off".into()),
            // The pages' thumbnails are read from the fake's CDN stand-in, and only from it.
            (
                "XADS_MEDIA_HOSTS",
                fake_base.trim_start_matches("http://").to_owned(),
            ),
            ("X_ADS_API_BASE_URL", fake_base.clone()),
            ("X_API_BASE_URL", fake_base.clone()),
            (
                "X_OAUTH_AUTHORIZE_URL",
                format!("{fake_base}/i/oauth2/authorize"),
            ),
        ] {
            vars.insert(k.to_owned(), v);
        }
        vars.remove("X_ADS_SCOPES");
        write_env_file(&dir, &vars)?;
        let config = Config::from_vars(&vars)?;
        let app = Application::build(config).await?;
        let (_, login_key) =
            crate::store::tenants::create(&app.state().db, "Demo team", app.state().clock.now())
                .await?;
        Ok(Demo {
            url: format!("http://{}", app.local_addr()),
            app,
            fake,
            login_key: login_key.0,
            temp_dir,
        })
    }

    /// Removes the temporary directory (if the demo made one).
    pub fn cleanup(dir: Option<std::path::PathBuf>) {
        if let Some(d) = dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// `xads demo`: runs until Ctrl-C or SIGTERM, then stops the service and the fake.
pub async fn run() -> anyhow::Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let demo = Demo::start(&env).await?;
    println!("xads demo: the service in live mode against a built-in fake X (no X account needed)");
    println!("{}", demo.url);
    if let Some(dir) = &demo.temp_dir {
        println!("data folder: {}", dir.display());
    }
    println!("login key: {}", demo.login_key);
    println!("Open the URL, log in with the key, then Integrations → Connect.");
    if let Some(dir) = &demo.temp_dir {
        println!(
            "Commands against this demo while it runs: set -a; . {}; set +a; then e.g. `xads tenant list`, `xads sync`.",
            dir.join(ENV_FILE).display()
        );
    }
    println!("Ctrl-C stops (and removes the data folder).");
    let Demo {
        app,
        fake,
        temp_dir,
        ..
    } = demo;
    let result = app.run(shutdown_signal()).await;
    fake.shutdown().await;
    Demo::cleanup(temp_dir);
    result
}
