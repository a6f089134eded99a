//! The `xads` binary: `demo` prints its URL and login key and stops on Ctrl-C; `fake-x` serves the
//! fake standalone; `accounts` and `campaigns …` act for a tenant named by id or name.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::TestApp;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn xads() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xads"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("XADS_FX_URL", "off")
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Spawns `cmd` and reads stdout lines until `until` matches one; returns the child and lines.
async fn lines_until(mut cmd: Command, until: impl Fn(&str) -> bool) -> (Child, Vec<String>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn xads");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = vec![];
    while let Some(line) = out.next_line().await.unwrap() {
        let done = until(&line);
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep draining, so later output does not meet a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    (child, lines)
}

async fn interrupt_and_wait(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait().await.unwrap()
}

#[tokio::test]
async fn demo_prints_url_and_login_key_serves_the_ui_and_stops_on_ctrl_c() {
    let mut cmd = xads();
    cmd.arg("demo")
        .env("XADS_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", xads::testing::sqlite_url());
    let (child, lines) = lines_until(cmd, |l| l.starts_with("login key: ")).await;
    let url = lines
        .iter()
        .find(|l| l.starts_with("http://127.0.0.1:"))
        .expect("URL line")
        .clone();
    let key = lines
        .last()
        .unwrap()
        .strip_prefix("login key: ")
        .unwrap()
        .to_owned();
    let http = crate::http_client();
    let resp = http
        .post(format!("{url}/login"))
        .form(&[("key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "the printed key logs in");
    let resp = http
        .get(format!("{url}/api/v1/integrations"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let tiles: Value = resp.json().await.unwrap();
    assert_eq!(
        tiles["data"][0]["mode"], "live",
        "the demo runs live against its fake X"
    );
    assert!(tiles["data"][0]["methods"].as_array().unwrap().len() == 2);
    let status = interrupt_and_wait(child).await;
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn fake_x_serves_the_fake_standalone() {
    let mut cmd = xads();
    cmd.args([
        "fake-x",
        "--port",
        "0",
        "--consumer-key",
        "team-key",
        "--client-id",
        "team-client",
        "--redirect-uri",
        "oob",
        "--seed",
        "7",
        "--campaigns-per-account",
        "5",
        "--app-campaigns",
        "2",
    ]);
    let (child, lines) = lines_until(cmd, |l| l.contains("Ctrl-C stops")).await;
    let url = &lines[0];
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = crate::http_client();
    let resp = http.get(format!("{url}/12/accounts")).send().await.unwrap();
    assert_eq!(resp.status(), 401, "the fake wants a token");
    // What a client needs, as `export FAKE_X_…=` lines: the fake's own credentials and tokens.
    let export = |k: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("export FAKE_X_{k}=")))
            .unwrap_or_else(|| panic!("no FAKE_X_{k} in {lines:?}"))
            .to_owned()
    };
    assert_eq!(export("URL"), *url);
    assert_eq!(export("CONSUMER_KEY"), "team-key");
    assert_eq!(export("CLIENT_ID"), "team-client");
    assert!(lines.iter().any(|l| l.contains("redirect URIs oob")));
    let account = export("ACCOUNT_ID");
    let campaigns: Value = http
        .get(format!("{url}/12/accounts/{account}/campaigns"))
        .bearer_auth(export("BEARER_TOKEN"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        campaigns["data"].as_array().unwrap().len(),
        5 + 2,
        "the world's size from the command line (the USD account's web and app campaigns)"
    );
    assert!(!export("ACCESS_TOKEN_SECRET").is_empty());
    let status = interrupt_and_wait(child).await;
    assert!(status.success(), "{status}");
}

async fn run_json(db: &str, args: &[&str]) -> Value {
    let out = xads()
        .args(args)
        .env("DATABASE_URL", db)
        .env("XADS_ENCRYPTION_KEY", KEY)
        .env("XADS_TENANT", "Growth")
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "xads {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("xads {args:?}: {e}"))
}

#[tokio::test]
async fn accounts_and_campaigns_act_for_the_named_tenant() {
    let db = xads::testing::sqlite_url();
    let (app, _key) = TestApp::dry_run_connected(&db).await;
    let seed = app.fake.seed_info();
    let account = seed.usd_account_id.as_str();
    let fi = seed.account(account).unwrap().funding_instrument_id.clone();

    let accounts = run_json(&db, &["accounts", "--json"]).await;
    assert_eq!(accounts["data"].as_array().unwrap().len(), 3);

    let created = run_json(
        &db,
        &[
            "campaigns",
            "create",
            "--json",
            "--account",
            account,
            "--name",
            "From the CLI",
            "--funding-instrument",
            &fi,
            "--daily-budget",
            "12.5",
        ],
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dry_"), "dry-run by default: {created}");
    assert_eq!(created["daily_budget_amount_local_micro"], 12_500_000);

    let paused = run_json(
        &db,
        &["campaigns", "pause", "--json", "--account", account, &id],
    )
    .await;
    assert_eq!(paused["paused"], true);
    let resumed = run_json(
        &db,
        &["campaigns", "resume", "--json", "--account", account, &id],
    )
    .await;
    assert_eq!(resumed["paused"], false);
    let list = run_json(&db, &["campaigns", "list", "--json", "--account", account]).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
    );
    let deleted = run_json(
        &db,
        &["campaigns", "delete", "--json", "--account", account, &id],
    )
    .await;
    assert_eq!(deleted["deleted"], true);
    assert!(app.x_writes().is_empty(), "dry-run sends nothing to X");

    // An unknown tenant is refused.
    let out = xads()
        .args(["accounts", "--tenant", "Nobody"])
        .env("DATABASE_URL", &db)
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}

/// `xads` as an operator runs it: no RUST_LOG, stdout and stderr captured.
fn xads_plain(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xads"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn output(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = xads_plain(args, env).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn commands_print_for_people_and_log_only_when_asked() {
    let db = xads::testing::sqlite_url();
    let env = [("DATABASE_URL", db.as_str())];
    // A fresh database: migrating logs each migration at info, but only when asked.
    let (ok, out, err) = output(&["migrate"], &env).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("sqlite: ") && out.contains("migration(s) applied"),
        "{out}"
    );
    assert_eq!(err, "", "no log lines on stderr unless asked");
    let (ok, out, err) = output(&["tenant", "create", "Growth"], &env).await;
    assert!(ok && err.is_empty(), "{err}");
    assert!(out.lines().last().unwrap().starts_with("xads_"), "{out}");
    // --log-format json asks for JSON lines (a new database, so there is something to log).
    let db2 = xads::testing::sqlite_url();
    let (ok, _, err) = output(
        &["--log-format", "json", "migrate"],
        &[("DATABASE_URL", &db2)],
    )
    .await;
    assert!(ok);
    let first = err.lines().next().expect("log lines");
    let line: Value = serde_json::from_str(first).expect("a JSON log line");
    assert_eq!(line["level"], "INFO", "{first}");
    // RUST_LOG asks for text lines.
    let db3 = xads::testing::sqlite_url();
    let (ok, _, err) = output(
        &["migrate"],
        &[("DATABASE_URL", &db3), ("RUST_LOG", "info")],
    )
    .await;
    assert!(ok);
    assert!(!err.is_empty() && !err.starts_with('{'), "{err}");
}

#[tokio::test]
async fn tenant_list_and_rotate_key_on_the_command_line() {
    let db = xads::testing::sqlite_url();
    let env = [("DATABASE_URL", db.as_str())];
    let (ok, out, _) = output(&["tenant", "list"], &env).await;
    assert!(ok);
    assert!(out.starts_with("no tenants"), "{out}");
    let (_, created, _) = output(&["tenant", "create", "Growth team"], &env).await;
    let old_key = created.lines().last().unwrap().to_owned();
    let (ok, out, err) = output(&["tenant", "list"], &env).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID ") && lines[0].ends_with("NAME"),
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("ten_") && lines[1].ends_with("  Growth team"),
        "{out}"
    );
    let id = lines[1].split_whitespace().next().unwrap();

    let (ok, out, err) = output(&["tenant", "rotate-key", "Growth team"], &env).await;
    assert!(ok, "{err}");
    assert!(out.contains(id) && out.contains("30 s"), "{out}");
    let new_key = out.lines().last().unwrap();
    assert!(new_key.starts_with("xads_") && new_key != old_key, "{out}");
    let store = xads::db::Db::connect(&db).await.unwrap();
    assert_eq!(
        xads::store::tenants::by_api_key(&store, &old_key)
            .await
            .unwrap(),
        None,
        "the old key is gone"
    );
    assert_eq!(
        xads::store::tenants::by_api_key(&store, new_key)
            .await
            .unwrap()
            .map(|t| t.id),
        Some(id.to_owned())
    );
    let (ok, _, err) = output(&["tenant", "rotate-key", "Nobody"], &env).await;
    assert!(!ok && err.contains("no tenant"), "{err}");
}

#[tokio::test]
async fn a_rotated_key_stops_working_on_a_running_instance_within_the_cache_bound() {
    let db = xads::testing::sqlite_url();
    let (app, old_key) = TestApp::dry_run_connected(&db).await;
    assert_eq!(app.get(&old_key, "/api/v1/integrations").await.0, 200);
    let tenant = xads::store::tenants::by_api_key(&app.state.db, &old_key)
        .await
        .unwrap()
        .unwrap();
    let new_key =
        xads::store::tenants::rotate_key(&app.state.db, &tenant.id, app.state.clock.now())
            .await
            .unwrap();
    assert_eq!(app.get(&new_key.0, "/api/v1/integrations").await.0, 200);
    // Verified just before, the old key is trusted from this instance's cache…
    assert_eq!(app.get(&old_key, "/api/v1/integrations").await.0, 200);
    // …for at most KEY_CACHE_TTL.
    app.state
        .clock
        .advance(chrono::Duration::from_std(xads::web::auth::KEY_CACHE_TTL).unwrap());
    assert_eq!(app.get(&old_key, "/api/v1/integrations").await.0, 401);
    assert_eq!(app.get(&new_key.0, "/api/v1/integrations").await.0, 200);
}

#[tokio::test]
async fn database_errors_name_the_place_and_the_cause_once() {
    let dir = format!("/nonexistent-xads-{:08x}", rand::random::<u32>());
    let url = format!("sqlite://{dir}/xads.db");
    let (ok, out, err) = output(&["tenant", "list"], &[("DATABASE_URL", &url)]).await;
    assert!(!ok && out.is_empty());
    assert_eq!(
        err,
        format!("xads: database {dir}/xads.db: no such directory {dir}\n")
    );
    // Nothing listens on port 1 of loopback: refused at once.
    let (ok, _, err) = output(
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/test",
        )],
    )
    .await;
    assert!(!ok);
    assert_eq!(
        err,
        "xads: database postgres 127.0.0.1:1/test: connection refused\n"
    );
}

#[tokio::test]
async fn the_demo_prints_its_data_folder_and_commands_act_on_the_running_demo() {
    let mut cmd = xads_plain(&["demo"], &[("XADS_BIND", "127.0.0.1:0")]);
    cmd.stderr(Stdio::null());
    let (child, lines) = lines_until(cmd, |l| l.starts_with("Ctrl-C stops")).await;
    let url = lines
        .iter()
        .find(|l| l.starts_with("http://"))
        .unwrap()
        .clone();
    let folder = lines
        .iter()
        .find_map(|l| l.strip_prefix("data folder: "))
        .expect("the data folder")
        .to_owned();
    let key = lines
        .iter()
        .find_map(|l| l.strip_prefix("login key: "))
        .unwrap()
        .to_owned();
    let env_file = std::path::Path::new(&folder).join("demo.env");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&env_file.display().to_string()))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "demo.env is the owner's alone");
    }
    let env: Vec<(String, String)> = std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('\'').to_owned())
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(
        env.iter()
            .any(|(k, v)| *k == "DATABASE_URL" && v.contains(&folder))
    );

    // Connect the demo tenant as a person would: connect → the fake's approval → callback.
    let http = crate::http_client();
    let start: Value = http
        .post(format!("{url}/api/v1/integrations/x_ads/connect"))
        .bearer_auth(&key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let approve = http
        .get(start["authorize_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let callback = approve.headers()["location"].to_str().unwrap().to_owned();
    let done = http.get(&callback).send().await.unwrap();
    assert!(done.status().is_redirection(), "{}", done.status());

    let (ok, out, err) = output(&["tenant", "list"], &env).await;
    assert!(ok && out.contains("Demo team"), "{out}{err}");
    let (ok, out, err) = output(&["sync"], &env).await;
    assert!(ok, "xads sync against the demo: {out}{err}");
    assert!(out.contains("succeeded"), "{out}");
    // Money is printed with its currency.
    let (ok, accounts, _) = output(&["accounts", "--tenant", "Demo team"], &env).await;
    assert!(ok);
    let usd = accounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("USD"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the USD account")
        .to_owned();
    let (ok, out, err) = output(
        &[
            "campaigns",
            "list",
            "--tenant",
            "Demo team",
            "--account",
            &usd,
        ],
        &env,
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.lines().skip(1).any(|l| l.contains(" USD ")), "{out}");
    let status = interrupt_and_wait(child).await;
    assert!(status.success(), "{status}");
    assert!(
        !std::path::Path::new(&folder).exists(),
        "Ctrl-C removes the data folder"
    );
}
