//! The one error rule (issue 14, item 3): internal details never reach a client, stored failures
//! keep a code and a safe message, a replayed refusal is the original byte for byte.

use reqwest::Method;
use serde_json::{Value, json};
use xads_fake::{FaultKind, FaultRule};

use crate::helpers::AccountCtx;

/// Text that only an internal cause would put into an answer.
fn assert_no_internals(ctx: &AccountCtx, text: &str) {
    let fake = ctx
        .app
        .fake
        .base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let host = fake.trim_start_matches("http://");
    for leak in [
        host,
        "http://",
        "error sending request",
        "os error",
        "SELECT",
        "no such table",
        "does not exist",
        "database:",
    ] {
        assert!(!text.contains(leak), "{leak:?} answered: {text}");
    }
}

async fn raw(
    ctx: &AccountCtx,
    method: Method,
    rest: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    let mut req = ctx
        .app
        .http
        .request(method, format!("{}{}", ctx.app.base, ctx.path(rest)))
        .bearer_auth(&ctx.key)
        .json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.unwrap();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), replayed, r.text().await.unwrap())
}

#[tokio::test]
async fn a_replayed_validation_refusal_is_the_original_body_details_included() {
    let c = AccountCtx::new(&xads::testing::sqlite_url(), false).await;
    let bad = json!({"name": "", "funding_instrument_id": c.fi});
    let (status, replayed, first) =
        raw(&c, Method::POST, "campaigns", Some("refused-once"), &bad).await;
    assert_eq!((status, replayed), (422, None), "{first}");
    let parsed: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(parsed["error"]["code"], "validation_failed");
    assert_eq!(parsed["error"]["field"], "name", "{first}");
    let (status, replayed, again) =
        raw(&c, Method::POST, "campaigns", Some("refused-once"), &bad).await;
    assert_eq!(status, 422);
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first, "the replay answers the same bytes");
}

#[tokio::test]
async fn a_database_failure_answers_no_sql_text() {
    let c = AccountCtx::new(&xads::testing::sqlite_url(), false).await;
    let (status, started) = c
        .send(Method::POST, "stats/sync?wait=true", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{started}");
    let id = started["sync_id"].as_str().unwrap().to_owned();
    sqlx::query("DROP TABLE sync_runs")
        .execute(c.app.state.db.pool())
        .await
        .unwrap();
    let r = c
        .app
        .http
        .get(format!(
            "{}{}",
            c.app.base,
            c.path(&format!("stats/sync/{id}"))
        ))
        .bearer_auth(&c.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"error":{"code":"internal","message":"internal error; it has been logged"}}"#
    );
    assert_no_internals(&c, &text);
    assert!(
        crate::captured_logs().contains("sync_runs"),
        "the cause is logged for the operator"
    );
}

#[tokio::test]
async fn a_transport_failure_answers_and_stores_no_url_or_chain() {
    let c = AccountCtx::new(&xads::testing::sqlite_url(), true).await;
    c.app.fake.state().add_fault(FaultRule::new(
        Some("GET"),
        &format!("/12/accounts/{}", c.account),
        FaultKind::DropBeforeCommit,
    ));
    // Answered: a read through to X.
    let (status, _, text) = raw(
        &c,
        Method::GET,
        "campaigns?refresh=true",
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(status, 502, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "x_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("transport error"),
        "{text}"
    );
    assert_no_internals(&c, &text);
    // Stored: a failed sync run keeps the code and the safe message.
    let (status, run) = c
        .send(Method::POST, "stats/sync?wait=true", Some(json!({})))
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "failed", "{run}");
    assert_no_internals(&c, &run.to_string());
    let stored = xads::store::sync_runs::get_run(
        &c.app.state.db,
        &tenant_of(&c).await,
        run["sync_id"].as_str().unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stored.error_code.as_deref(), Some("x_error"));
    assert_eq!(stored.error, run["error"].as_str().map(str::to_owned));
    let (_, tiles) = c.app.get(&c.key, "/api/v1/integrations").await;
    assert_no_internals(&c, &tiles.to_string());
}

async fn tenant_of(c: &AccountCtx) -> String {
    xads::store::tenants::by_api_key(&c.app.state.db, &c.key)
        .await
        .unwrap()
        .unwrap()
        .id
}
