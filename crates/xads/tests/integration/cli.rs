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
        5,
        "the world's size from the command line"
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
