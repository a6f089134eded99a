//! The web UI over plain HTTP: login sessions (HttpOnly cookie, stored hashed), CSRF on every
//! form (urlencoded and the multipart upload), logout, escaping of every outside value on every
//! page, CSV download; and the OpenAPI document against the real routes.

use std::collections::BTreeSet;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use xads_fake::FakeConfig;

use crate::helpers::TestApp;

/// Logs in with `key`; returns the cookie header value to send back.
pub(crate) async fn login(app: &TestApp, key: &str) -> String {
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/integrations");
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

pub(crate) async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

pub(crate) async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.http
        .post(format!("{}{path}", app.base))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn campaigns(app: &TestApp, key: &str, account: &str) -> Vec<Value> {
    let (_, body) = app
        .get(key, &format!("/api/v1/x_ads/accounts/{account}/campaigns"))
        .await;
    body["data"].as_array().cloned().unwrap_or_default()
}

/// The CSRF token in a rendered page.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF field")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn login_sets_an_httponly_cookie_whose_token_is_stored_only_hashed() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;

    // Not logged in: pages send the browser to the login form; a wrong key is refused.
    let resp = app
        .http
        .get(format!("{}/integrations", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/login");
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .form(&[("key", "xads_not-a-key")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get(SET_COOKIE).is_none());

    // A login posted from another site is refused (login CSRF).
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .header("origin", "http://evil.example")
        .form(&[("key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    let origin = app.base.clone();
    let resp = app
        .http
        .post(format!("{}/login", app.base))
        .header("origin", origin)
        .form(&[("key", key.as_str())])
        .send()
        .await
        .unwrap();
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM ui_sessions")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, vec![hex::encode(Sha256::digest(token.as_bytes()))]);

    let (status, html) = page(&app, &cookie, "/integrations").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("X (Twitter) Ads") && html.contains("Dry-run"),
        "{html}"
    );
    assert!(
        html.contains("X_ADS_LIVE_MODE=true"),
        "the dry-run tile says how to go live"
    );
    assert!(!html.contains(&key), "the login key is never rendered");
}

#[tokio::test]
async fn every_form_needs_the_sessions_csrf_token() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, "/campaigns").await;
    let csrf = csrf_of(&html);
    let other = login(&app, &key).await;
    let (_, other_html) = page(&app, &other, "/integrations").await;
    let other_csrf = csrf_of(&other_html);
    assert_ne!(csrf, other_csrf, "tokens are per session");

    let fields = |csrf: &'static str| {
        vec![
            ("account", account.clone()),
            ("name", "Spring".to_owned()),
            ("funding_instrument_id", "airt0".to_owned()),
            ("csrf", csrf.to_owned()),
        ]
    };
    let before = campaigns(&app, &key, &account).await.len();
    for bad in ["", "forged"] {
        let form: Vec<(&str, String)> = fields(bad);
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = post_form(&app, &cookie, "/campaigns/create", &form).await;
        assert_eq!(resp.status(), 403);
    }
    // Another session's token does not do either.
    let mut form: Vec<(&str, String)> = fields("");
    form.retain(|(k, _)| *k != "csrf");
    form.push(("csrf", other_csrf.clone()));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        post_form(&app, &cookie, "/campaigns/create", &form_ref)
            .await
            .status(),
        403
    );
    for path in [
        "/integrations/x_ads/disconnect",
        "/integrations/x_ads/connect",
        "/logout",
    ] {
        assert_eq!(
            post_form(&app, &cookie, path, &[]).await.status(),
            403,
            "{path}"
        );
    }
    assert_eq!(
        campaigns(&app, &key, &account).await.len(),
        before,
        "nothing was created"
    );
    let (_, tiles) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tiles["data"][0]["status"], "connected", "still connected");

    // With the token the same form works (dry-run: stored locally, nothing sent to X).
    let mut form: Vec<(&str, String)> = fields("");
    form.retain(|(k, _)| *k != "csrf");
    form.push(("csrf", csrf.clone()));
    form.push(("daily_budget", "12.5".into()));
    let form_ref: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = post_form(&app, &cookie, "/campaigns/create", &form_ref).await;
    assert_eq!(resp.status(), 303);
    let after = campaigns(&app, &key, &account).await;
    let created = after
        .iter()
        .find(|c| c["name"] == "Spring")
        .expect("created");
    assert_eq!(created["dry_run"], true);
    assert_eq!(created["daily_budget_amount_local_micro"], 12_500_000);
    assert!(app.x_writes().is_empty());

    // Logout ends the session server-side.
    let resp = post_form(&app, &cookie, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = page(&app, &cookie, "/integrations").await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn pages_escape_what_they_show_and_reports_download_as_csv() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{account}/campaigns"),
            Some(
                json!({"name": "<script>alert(\"x\")</script>", "funding_instrument_id": "airt0"}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/campaigns?account={account}")).await;
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"));

    let resp = app
        .http
        .get(format!(
            "{}/reports.csv?account={account}&from=2026-01-01&to=2026-01-07",
            app.base
        ))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let (status, html) = page(&app, &cookie, &format!("/reports?account={account}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg class=\"chart\""));
}

/// A value that breaks out of text and of a quoted attribute if either is left unescaped.
const EVIL: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
/// [`EVIL`] as text or attribute value once escaped.
const EVIL_ESCAPED: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;";

/// The page has `label` + [`EVIL`] only escaped, and no markup of its own from it.
#[track_caller]
fn assert_escaped(html: &str, label: &str) {
    assert!(
        html.contains(&format!("{label}{EVIL_ESCAPED}")),
        "{label}… escaped is missing: {html}"
    );
    assert!(
        // Pages show thumbnails (`<img class="thumb" …>`), never the outside's own markup.
        !html.contains("<script") && !html.contains("<img src=x"),
        "unescaped markup from outside: {html}"
    );
}

#[tokio::test]
async fn every_page_escapes_names_and_errors_from_outside() {
    let (app, key) = TestApp::live_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let a = acct.id.clone();
    // Names the UI did not choose: the tenant's, the ad account's (from X), a campaign's,
    // an experiment's and its variants' (typed by users, possibly in X Ads Manager).
    for (sql, value) in [
        ("UPDATE tenants SET name = $1", format!("Team {EVIL}")),
        (
            "UPDATE ad_accounts SET name = $1",
            format!("Account {EVIL}"),
        ),
    ] {
        sqlx::query(sql)
            .bind(value)
            .execute(app.state.db.pool())
            .await
            .unwrap();
    }
    let (status, c) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/campaigns"),
            Some(json!({"name": format!("Campaign {EVIL}"),
                "funding_instrument_id": acct.funding_instrument_id,
                "daily_budget_amount_local_micro": 50_000_000})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_str().unwrap().to_owned();
    let variants: Vec<Value> = (0..2)
        .map(|i| {
            json!({"name": format!("Variant{i} {EVIL}"), "control": i == 0,
                "tweet_id": acct.tweet_ids[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                    "daily_budget_amount_local_micro": 5_000_000}})
        })
        .collect();
    let (status, e) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/experiments"),
            Some(
                json!({"name": format!("Experiment {EVIL}"), "campaign_id": campaign,
                "primary_metric": "ctr", "schedule": {"mode": "concurrent"},
                "stop": {"max_days": 14}, "variants": variants}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let experiment = e["id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &key).await;

    let pages: Vec<(String, Vec<&str>)> = vec![
        ("/integrations".into(), vec!["Team ", "Account "]),
        (
            format!("/campaigns?account={a}"),
            vec!["Team ", "Account ", "Campaign "],
        ),
        (
            format!("/campaigns/{a}/{campaign}"),
            vec!["Team ", "Campaign "],
        ),
        (
            format!("/campaigns/{a}/{campaign}/delete"),
            vec!["Team ", "Campaign "],
        ),
        (format!("/media?account={a}"), vec!["Team ", "Account "]),
        (format!("/reports?account={a}"), vec!["Team ", "Account "]),
        (
            format!("/experiments?account={a}"),
            vec!["Team ", "Account ", "Campaign ", "Experiment "],
        ),
        (
            format!("/experiments/{a}/{experiment}"),
            vec!["Team ", "Experiment ", "Variant0 ", "Variant1 "],
        ),
    ];
    for (path, labels) in pages {
        let (status, html) = page(&app, &cookie, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        for label in labels {
            assert_escaped(&html, label);
        }
    }
    // The campaign's name also rides in the row's `data-name` attribute.
    let (_, html) = page(&app, &cookie, &format!("/campaigns?account={a}")).await;
    assert!(html.contains(&format!("data-name=\"Campaign {EVIL_ESCAPED}\"")));

    // Error texts that quote what the user typed: the UI's own and the API's.
    let csrf = csrf_of(&html);
    let resp = post_form(
        &app,
        &cookie,
        "/campaigns/create",
        &[
            ("csrf", &csrf),
            ("account", &a),
            ("name", "x"),
            ("daily_budget", EVIL),
        ],
    )
    .await;
    assert_escaped(&resp.text().await.unwrap(), "Daily budget: not an amount: ");
    let resp = post_form(
        &app,
        &cookie,
        &format!("/experiments/{a}/{experiment}/conclude"),
        &[("csrf", &csrf), ("winner", EVIL)],
    )
    .await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("no variant named"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("<img") && html.contains("&lt;img src=x"),
        "{html}"
    );
}

/// Every POST route of the UI's pages, read from their `.route(…)` calls.
fn ui_post_routes() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/pages");
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        // Each piece runs to the next `.route(` or to the end of the `routes()` function.
        for call in text.split(".route(").skip(1) {
            let args = &call[..call.find("\n}").unwrap_or(call.len())];
            if args.contains("post(") {
                out.push(args.split('"').nth(1).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_ui_post_route_refuses_a_form_without_the_sessions_token() {
    let (app, key) = TestApp::live_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let cookie = login(&app, &key).await;
    let mut routes = ui_post_routes();
    // The login form has no session yet: its guard is the Origin check (tested above).
    let login_at = routes.iter().position(|r| r == "/login").expect("/login");
    routes.remove(login_at);
    for expected in [
        "/logout",
        "/campaigns/create",
        "/integrations/x_ads/disconnect",
        "/media/upload",
        "/reports/sync",
        "/experiments/{account}/{id}/{action}",
    ] {
        assert!(
            routes.iter().any(|r| r == expected),
            "{expected} in {routes:?}"
        );
    }
    let other = login(&app, &key).await;
    let (_, other_html) = page(&app, &other, "/integrations").await;
    let other_csrf = csrf_of(&other_html);
    app.fake.state().clear_ledger();
    for route in &routes {
        let path = route
            .split('/')
            .map(|s| match s {
                "{account}" => account.as_str(),
                "{action}" => "pause",
                s if s.starts_with('{') => "x1",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        for form in [
            vec![],
            vec![("csrf", "")],
            vec![("csrf", "forged")],
            vec![("csrf", other_csrf.as_str())],
        ] {
            let mut form = form;
            form.push(("account", &account));
            form.push(("name", "Should not exist"));
            let resp = post_form(&app, &cookie, &path, &form).await;
            assert_eq!(resp.status(), 403, "{path} with {form:?}");
            assert!(resp.text().await.unwrap().contains("This form has expired"));
        }
        // Without a session the visitor is sent to log in, token or not.
        let resp = post_form(&app, "", &path, &[]).await;
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()[LOCATION], "/login");
    }
    assert!(app.x_writes().is_empty(), "{:?}", app.x_writes());
    assert!(app.fake.state().uploads().is_empty());
    let (status, _) = page(&app, &cookie, "/integrations").await;
    assert_eq!(status, 200, "still logged in");
    let (_, tiles) = app.get(&key, "/api/v1/integrations").await;
    assert_eq!(tiles["data"][0]["status"], "connected", "still connected");
}

#[tokio::test]
async fn the_upload_form_is_checked_from_its_first_part_and_streams_on() {
    use reqwest::multipart::{Form, Part};
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/media?account={account}")).await;
    let csrf = csrf_of(&html);
    assert!(
        !html.contains(&format!("csrf={csrf}")),
        "the token is not put in a URL"
    );
    let file = || {
        Part::bytes(crate::media::png(7))
            .file_name("hero.png")
            .mime_str("image/png")
            .unwrap()
    };
    let upload = |query: String, form: Form| {
        app.http
            .post(format!("{}/media/upload?{query}", app.base))
            .header(COOKIE, &cookie)
            .multipart(form)
            .send()
    };
    let listed = || async {
        let (_, body) = app
            .get(&key, &format!("/api/v1/x_ads/accounts/{account}/media"))
            .await;
        body["data"].as_array().unwrap().len()
    };
    let before = listed().await;
    // Refused: the token only in the URL (where it used to ride), after the file, forged, or
    // absent.
    let refused = [
        (
            format!("account={account}&csrf={csrf}"),
            Form::new().part("file", file()),
        ),
        (
            format!("account={account}"),
            Form::new().part("file", file()).text("csrf", csrf.clone()),
        ),
        (
            format!("account={account}"),
            Form::new().text("csrf", "forged").part("file", file()),
        ),
        (
            format!("account={account}"),
            Form::new().text("name", "x").part("file", file()),
        ),
    ];
    for (query, form) in refused {
        let resp = upload(query.clone(), form).await.unwrap();
        assert_eq!(resp.status(), 403, "{query}");
    }
    assert_eq!(listed().await, before, "nothing was stored");

    // The form's own order: the token first, then the file and its name.
    let form = Form::new()
        .text("csrf", csrf.clone())
        .text("name", "Checked upload")
        .part("file", file());
    let resp = upload(format!("account={account}"), form).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("/media?account={account}&done=1").as_str()
    );
    let (_, html) = page(&app, &cookie, &format!("/media?account={account}")).await;
    assert!(html.contains("Checked upload"), "{html}");
    assert_eq!(listed().await, before + 1);

    // The page receives the file itself, under the API route's limit rather than axum's
    // default 2 MB: a 3 MB PNG goes through.
    let big = crate::media::png_with_data(vec![0x5a; 3 << 20]);
    let form = Form::new().text("csrf", csrf.clone()).part(
        "file",
        Part::bytes(big)
            .file_name("big.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = upload(format!("account={account}"), form).await.unwrap();
    assert_eq!(resp.status(), 303, "a 3 MB image is within X's 5 MB");
    assert_eq!(listed().await, before + 2);

    // A file whose bytes are not its declared type: the page says why, nothing is stored.
    let form = Form::new().text("csrf", csrf.clone()).part(
        "file",
        Part::bytes(b"GIF89a not a png at all".to_vec())
            .file_name("fake.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = upload(format!("account={account}"), form).await.unwrap();
    assert_eq!(
        resp.status(),
        422,
        "a refused form answers 422 with its page"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#), "{html}");
    assert!(
        html.contains("Media library"),
        "the page itself, with the error on it"
    );
    assert_eq!(listed().await, before + 2, "nothing stored");
}

#[tokio::test]
async fn a_state_changing_handler_cannot_reach_the_session_without_the_token_check() {
    use axum::routing::post;
    use tower::ServiceExt;
    use xads::ui::session::{CsrfForm, User};
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let key = app.tenant("Growth").await;
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, "/integrations").await;
    let csrf = csrf_of(&html);
    let router = axum::Router::new()
        .route("/careless", post(|_: User| async { "ran" }))
        .route(
            "/checked",
            post(|CsrfForm(user, f): CsrfForm<std::collections::HashMap<String, String>>| async move {
                format!("ran for {} with {}", user.0.tenant.name, f["x"])
            }),
        )
        .with_state(app.state.clone());
    let call = |path: &str, body: String| {
        axum::http::Request::post(path)
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    // A POST handler that asks for `User` (and could skip the check) never runs.
    let resp = router
        .clone()
        .oneshot(call("/careless", format!("csrf={csrf}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = router
        .clone()
        .oneshot(call("/checked", "x=1&csrf=forged".into()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = router
        .oneshot(call("/checked", format!("x=1&csrf={csrf}")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"ran for Growth with 1");
}

#[test]
fn no_html_is_built_from_strings() {
    // Markup is maud's `html!` only: no HTML string literals (which `format!` would fill with
    // unescaped values) and no `PreEscaped` anywhere in the service's code.
    let mut files = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut found = vec![];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let bytes = line.as_bytes();
            let html_literal = (1..bytes.len()).any(|i| {
                bytes[i - 1] == b'"'
                    && (i < 2 || bytes[i - 2] != b'\\')
                    && bytes[i] == b'<'
                    && bytes
                        .get(i + 1)
                        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'!' || *c == b'/')
            });
            if html_literal || line.contains("PreEscaped(") {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "HTML built outside maud:\n{}",
        found.join("\n")
    );
}

// ---- OpenAPI ----

fn web_sources() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    out
}

/// Every `(METHOD, /api/v1 path)` the routers register, read from their `.route(…)` calls.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (file, text) in web_sources() {
        // A module's unit tests build routers of their own; they are not the service's routes.
        let text = match text.find("#[cfg(test)]") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
        let base = text
            .find("let base = \"")
            .map(|i| text[i + 12..].split('"').next().unwrap().to_owned());
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            let after = &rest[i + 7..];
            let (mut depth, mut end) = (1, after.len());
            for (j, ch) in after.char_indices() {
                match ch {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let args = &after[..end];
            rest = &after[end..];
            let comma = args.find(',').unwrap_or(args.len());
            let (path_expr, methods) = args.split_at(comma);
            let path = if let Some(q) = path_expr.find('"') {
                let lit = path_expr[q + 1..].split('"').next().unwrap();
                lit.replace("{base}", base.as_deref().unwrap_or("{base}"))
                    .replace("{{", "{")
                    .replace("}}", "}")
            } else if path_expr.trim() == "base" {
                base.clone().expect("a `base` variable")
            } else {
                panic!("{file}: cannot read the route path {path_expr:?}; use a literal or `base`")
            };
            if !path.starts_with("/api/v1") {
                continue;
            }
            for m in ["get", "post", "put", "patch", "delete"] {
                let call = format!("{m}(");
                let mut s = methods;
                while let Some(k) = s.find(&call) {
                    let prev = s[..k].chars().last();
                    if !prev.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        found.insert((m.to_uppercase(), path.clone()));
                    }
                    s = &s[k + call.len()..];
                }
            }
        }
    }
    found
}

fn routes_in_document(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_openapi_document_lists_every_api_route_the_routers_register() {
    let doc = xads::web::openapi::document();
    let served = routes_in_sources();
    assert!(
        served.len() > 20,
        "the source walk found too little: {served:?}"
    );
    let documented = routes_in_document(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from web/openapi.rs ROUTES: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(extra.is_empty(), "documented but not registered: {extra:?}");
}

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let doc = xads::web::openapi::document();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/integration/snapshots/openapi.json");
    if std::env::var("XADS_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == text,
        "the OpenAPI document changed; review it and run with XADS_UPDATE_SNAPSHOTS=1 to accept ({})",
        path.display()
    );
    assert_eq!(doc["openapi"], "3.1.0");
    for (_, ops) in doc["paths"].as_object().unwrap() {
        for (_, op) in ops.as_object().unwrap() {
            assert!(op["operationId"].is_string() && op["summary"].is_string());
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn(&xads::testing::sqlite_url(), FakeConfig::default()).await;
    let resp = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "served without a key");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc, xads::web::openapi::document());
    for (method, path) in routes_in_document(&doc) {
        let concrete = path
            .replace("{action}", "start")
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let resp = app
            .http
            .request(method.parse().unwrap(), format!("{}{concrete}", app.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: method not routed");
        assert!(
            !(status == 404 && body.is_empty()),
            "{method} {path}: no such route"
        );
    }
}

#[tokio::test]
async fn the_tile_shows_needs_reconnect_with_the_401_text_and_a_reconnect_button() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.state().seed_info();
    app.fake.state().revoke_grants_for_user(&seed.user_id);
    app.state.clock.advance(chrono::Duration::hours(2));
    let cookie = login(&app, &key).await;
    // A page that reads through to X meets the 401 and says what to do.
    let (_, html) = page(&app, &cookie, "/campaigns?refresh=1").await;
    assert!(html.contains(xads::x::PROBLEM_401), "{html}");
    let (_, html) = page(&app, &cookie, "/integrations").await;
    assert!(html.contains("Needs re-connect"), "{html}");
    assert!(html.contains(xads::x::PROBLEM_401));
    assert!(html.contains(">Re-connect</button>"));
    assert!(html.contains("Re-connect with OAuth 1.0a"));
}

#[tokio::test]
async fn sessions_store_only_hashes_and_expire_on_every_backend() {
    use xads::store::{sessions, tenants};
    for db in xads::testing::all_backends().await {
        let (tenant, _) = tenants::create(&db, "Growth", chrono::Utc::now())
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let token = sessions::create(&db, &tenant.id, now).await.unwrap();
        let found = sessions::lookup(&db, &token, now)
            .await
            .unwrap()
            .expect("live");
        assert_eq!(found.tenant, tenant);
        assert_eq!(found.csrf, sessions::csrf_for(&token));
        assert_ne!(found.csrf, token);
        let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM ui_sessions")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(!stored.contains(&token), "{:?}", db.backend());
        let later = now + sessions::TTL + chrono::Duration::seconds(1);
        assert!(
            sessions::lookup(&db, &token, later)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        assert!(
            sessions::lookup(&db, "not-a-token", now)
                .await
                .unwrap()
                .is_none()
        );
        sessions::delete(&db, &token).await.unwrap();
        assert!(
            sessions::lookup(&db, &token, now).await.unwrap().is_none(),
            "logged out"
        );
    }
}

/// Issue 20 item 1: a refused form keeps every field and shows the refusal beside the field it
/// names (422, on the same page); a write that succeeded redirects (303), so a reload never
/// posts again; the experiment form checks its slot length before anything is sent.
#[tokio::test]
async fn refused_forms_keep_their_input_and_name_the_field_and_writes_redirect() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let a = acct.id.clone();
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/campaigns?account={a}")).await;
    let csrf = csrf_of(&html);
    let fi = acct.funding_instrument_id.clone();

    // The UI's own check (an amount) and the API's (daily above total) each name their field.
    for (daily, total, field, text) in [
        ("lots", "100", "daily", "Daily budget: not an amount"),
        ("500", "100", "daily", "daily"),
    ] {
        let resp = post_form(
            &app,
            &cookie,
            "/campaigns/create",
            &[
                ("csrf", &csrf),
                ("account", &a),
                ("name", "Keep <me>"),
                ("funding_instrument_id", &fi),
                ("daily_budget", daily),
                ("total_budget", total),
                ("start_now", "1"),
            ],
        )
        .await;
        assert_eq!(resp.status(), 422);
        let html = resp.text().await.unwrap();
        assert!(html.contains("value=\"Keep &lt;me&gt;\""), "{html}");
        assert!(html.contains(&format!("value=\"{daily}\"")), "{html}");
        assert!(html.contains(&format!("value=\"{total}\"")), "{html}");
        assert!(
            html.contains("name=\"start_now\" value=\"1\" checked"),
            "{html}"
        );
        let marked = format!(
            "id=\"{field}\" name=\"{field}_budget\" type=\"text\" value=\"{daily}\" inputmode=\"decimal\" aria-invalid=\"true\" aria-describedby=\"{field}-error\""
        );
        assert!(html.contains(&marked), "{marked} in {html}");
        let beside = html
            .split(&format!("<p class=\"field-error\" id=\"{field}-error\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no error beside {field}: {html}"));
        assert!(
            beside.starts_with(text) || beside.contains(text),
            "{beside}"
        );
    }

    // Accepted: 303 to the list, which shows it.
    let resp = post_form(
        &app,
        &cookie,
        "/campaigns/create",
        &[
            ("csrf", &csrf),
            ("account", &a),
            ("name", "Kept campaign"),
            ("funding_instrument_id", &fi),
            ("daily_budget", "10"),
            ("total_budget", "100"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let to = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/campaigns?account={a}&done=created"));
    let (_, html) = page(&app, &cookie, &format!("/campaigns?account={a}&q=kept")).await;
    assert!(html.contains("data-name=\"Kept campaign\""), "{html}");
    assert!(
        html.contains("1 campaign<") || html.contains("1 campaign "),
        "the search found just it: {html}"
    );

    // A slot length that does not divide a day is refused before anything is sent.
    let resp = post_form(
        &app,
        &cookie,
        "/experiments/create",
        &[
            ("csrf", &csrf),
            ("account", &a),
            ("name", "Slots"),
            ("campaign_id", "c1"),
            ("mode", "rotate"),
            ("slot_hours", "5"),
            ("v0_name", "Control"),
            ("v0_tweet", "1"),
            ("v1_name", "Treatment"),
            ("v1_tweet", "2"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(
            "<p class=\"field-error\" id=\"exp-slot-error\">Slot length must divide a day"
        ),
        "{html}"
    );
    assert!(html.contains("value=\"Slots\""), "{html}");
}

/// Issue 20 item 4: the experiment page offers the actions its state allows, keeps the
/// rotation caveat for rotations, warns when the campaign is paused, and says the conclusion in
/// words; its actions redirect (a reload does not post again).
#[tokio::test]
async fn the_experiment_page_reads_like_a_decision() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let a = acct.id.clone();
    let (status, c) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/campaigns"),
            Some(json!({"name": "Exp campaign", "funding_instrument_id": acct.funding_instrument_id})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_str().unwrap().to_owned();
    let variants: Vec<Value> = (0..2)
        .map(|i| {
            let name = ["Control", "Treatment"][i];
            json!({"name": name, "control": i == 0,
                "tweet_id": acct.tweet_ids[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000}})
        })
        .collect();
    let (status, e) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/experiments"),
            Some(json!({"name": "Side by side", "campaign_id": campaign,
                "primary_metric": "ctr", "schedule": {"mode": "concurrent"},
                "variants": variants})),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &key).await;
    let path = format!("/experiments/{a}/{id}");

    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains(&format!("action=\"{path}/start\"")), "{html}");
    assert!(
        !html.contains("/stop\"") && !html.contains("id=\"conclude\""),
        "{html}"
    );
    assert!(
        !html.contains("rotation-caveat"),
        "no rotation caveat on a concurrent one"
    );
    assert!(html.contains("Side by side") && html.contains("click-through rate"));
    assert!(html.contains("id=\"variant-chart\""), "{html}");

    let csrf = csrf_of(&html);
    let resp = post_form(&app, &cookie, &format!("{path}/start"), &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], format!("{path}?done=start"));
    let (_, html) = page(&app, &cookie, &format!("{path}?done=start")).await;
    assert!(html.contains("Experiment started."), "{html}");
    assert!(!html.contains("/start\""), "running: no start button");
    assert!(
        html.contains("/stop\"") && html.contains("id=\"conclude\""),
        "{html}"
    );

    // The campaign paused elsewhere: the page warns.
    let (status, _) = app
        .send(
            reqwest::Method::PATCH,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/campaigns/{campaign}"),
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains("id=\"campaign-warning\""), "{html}");

    // Concluding without a winner and without a choice asks for the choice, in words.
    let resp = post_form(
        &app,
        &cookie,
        &format!("{path}/conclude"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(html.contains("choose the variant to keep"), "{html}");
    let resp = post_form(
        &app,
        &cookie,
        &format!("{path}/conclude"),
        &[("csrf", &csrf), ("winner", "Treatment")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(
        html.contains("“Treatment” keeps running and the other variants are paused (you chose it)"),
        "{html}"
    );
    assert!(
        !html.contains("id=\"actions\""),
        "concluded: no actions left"
    );
}

#[tokio::test]
async fn the_media_page_deletes_an_entry_after_a_confirmation() {
    use reqwest::multipart::{Form, Part};
    let (app, key) = TestApp::live_connected(&xads::testing::sqlite_url()).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let form = Form::new().text("name", "Old banner").part(
        "file",
        Part::bytes(crate::media::png(9))
            .file_name("old.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = app
        .http
        .post(format!(
            "{}/api/v1/x_ads/accounts/{account}/media",
            app.base
        ))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let entry: Value = resp.json().await.unwrap();
    let media_key = entry["media_key"].as_str().unwrap().to_owned();
    let at_x = || {
        app.fake
            .state()
            .media_library(&account)
            .iter()
            .any(|m| m.media_key == media_key && !m.deleted)
    };
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/media?account={account}")).await;
    let confirm = format!("/media/{account}/{media_key}/delete");
    assert!(html.contains(&format!("href=\"{confirm}\"")), "{html}");
    assert!(html.contains("aria-label=\"Delete Old banner…\""));

    // The link only asks; the page names what goes.
    let (status, html) = page(&app, &cookie, &confirm).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Old banner") && html.contains("confirm-delete"));
    assert!(at_x());
    // Without the session's token nothing happens.
    let resp = post_form(&app, &cookie, &confirm, &[("csrf", "forged")]).await;
    assert_eq!(resp.status(), 403);
    assert!(at_x());

    let csrf = csrf_of(&html);
    let resp = post_form(&app, &cookie, &confirm, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("/media?account={account}&done=deleted").as_str()
    );
    assert!(!at_x(), "deleted at X");
    let (_, html) = page(
        &app,
        &cookie,
        &format!("/media?account={account}&done=deleted"),
    )
    .await;
    assert!(html.contains("Deleted from the media library."));
    assert!(!html.contains(&media_key), "gone from the list");
    // Posting again: the page says it is not there, nothing more is sent.
    let sent = app.x_writes().len();
    let resp = post_form(&app, &cookie, &confirm, &[("csrf", &csrf)]).await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("media not found"), "{html}");
    assert_eq!(app.x_writes().len(), sent);
}

#[tokio::test]
async fn a_rotations_next_switch_reads_in_the_accounts_zone_and_the_page_says_what_runs_before_start()
 {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let seed = app.fake.seed_info();
    let acct = seed.account(&seed.jpy_account_id).unwrap().clone();
    let a = acct.id.clone();
    let (status, c) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/campaigns"),
            Some(
                json!({"name": "Tokyo tests", "funding_instrument_id": acct.funding_instrument_id}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let variants: Vec<Value> = (0..2)
        .map(|i| {
            let name = ["Control", "Treatment"][i];
            json!({"name": name, "control": i == 0,
                "tweet_id": acct.tweet_ids[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 100_000_000}})
        })
        .collect();
    let (status, e) = app
        .send(
            reqwest::Method::POST,
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/experiments"),
            Some(json!({"name": "Rotating", "campaign_id": c["id"],
                "primary_metric": "ctr", "schedule": {"mode": "rotate", "slot_hours": 6},
                "variants": variants})),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_owned();
    let cookie = login(&app, &key).await;
    let path = format!("/experiments/{a}/{id}");
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains("id=\"before-start\""), "{html}");
    let (_, list) = page(&app, &cookie, &format!("/experiments?account={a}")).await;
    assert!(
        list.contains("every treatment waits paused until you press Start"),
        "{list}"
    );

    let resp = post_form(
        &app,
        &cookie,
        &format!("{path}/start"),
        &[("csrf", &csrf_of(&html))],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(!html.contains("id=\"before-start\""), "{html}");
    let (_, view) = app
        .get(
            &key,
            &format!("/api/v1/x_ads/accounts/{a}/experiments/{id}"),
        )
        .await;
    let next: chrono::DateTime<chrono::Utc> =
        view["next_switch"].as_str().unwrap().parse().unwrap();
    let at = html.find("id=\"next-switch\"").expect("the next switch");
    let shown = &html[at..at + html[at..].find("</p>").unwrap()];
    // Tokyo's wall clock, the zone named; not the UTC instant.
    let local = next
        .with_timezone(&chrono_tz::Tz::Asia__Tokyo)
        .format("%-d %b %Y, %H:%M JST")
        .to_string();
    assert!(shown.contains(&local), "{local} in {shown}");
    assert!(shown.contains("Asia/Tokyo"), "{shown}");
    assert!(!shown.contains("UTC"), "{shown}");
}

#[tokio::test]
async fn thumbnails_come_through_our_origin_from_allowed_hosts_only() {
    use reqwest::multipart::{Form, Part};
    let fake = xads_fake::FakeX::start(xads_fake::FakeConfig {
        media_on_own_host: true,
        ..xads_fake::FakeConfig::default()
    })
    .await
    .unwrap();
    let mut vars = crate::helpers::vars_for(&xads::testing::sqlite_url(), &fake);
    vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    vars.insert("XADS_MEDIA_HOSTS".into(), fake.addr().to_string());
    let fake_origin = format!("http://{}", fake.addr());
    let app = TestApp::spawn_with(fake, &vars).await;
    let key = app.tenant("Growth").await;
    app.connect(&key).await;
    let account = app.fake.seed_info().usd_account_id.clone();
    let form = Form::new().text("name", "Banner").part(
        "file",
        Part::bytes(crate::media::png(3))
            .file_name("banner.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let resp = app
        .http
        .post(format!(
            "{}/api/v1/x_ads/accounts/{account}/media",
            app.base
        ))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let cookie = login(&app, &key).await;
    let get = |path: String, cookie: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.http.get(format!("{}{path}", app.base));
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            req.send().await.unwrap()
        }
    };
    let thumbs = |html: &str| -> Vec<String> {
        html.split("<img class=\"thumb\" src=\"")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
            .collect()
    };

    // The media page shows the image through our own origin, and its CSP keeps images ours.
    let resp = get(format!("/media?account={account}"), Some(cookie.clone())).await;
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    let srcs = thumbs(&html);
    assert!(!srcs.is_empty(), "{html}");
    assert!(
        srcs.iter().all(|s| s.starts_with("/media/preview?src=")),
        "{srcs:?}"
    );
    let resp = get(srcs[0].clone(), Some(cookie.clone())).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG"));
    // Only for a logged-in user.
    let resp = get(srcs[0].clone(), None).await;
    assert_ne!(resp.status(), 200);

    // Nothing is read from a host that is not allowed, nor over plain http elsewhere, and what
    // an allowed host answers must be an image.
    let q = |u: &str| url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let ledger_before = app.fake.state().ledger().len();
    for refused in [
        "https://example.com/a.png".to_owned(),
        "http://pbs.twimg.com/media/a.jpg".to_owned(),
        format!("{fake_origin}@example.com/a.png"),
        "file:///etc/passwd".to_owned(),
    ] {
        let resp = get(
            format!("/media/preview?src={}", q(&refused)),
            Some(cookie.clone()),
        )
        .await;
        assert_eq!(resp.status(), 404, "{refused}");
    }
    assert_eq!(
        app.fake.state().ledger().len(),
        ledger_before,
        "nothing fetched"
    );
    for not_an_image in [
        format!("{fake_origin}/cdn/video.twimg.com/v.mp4"),
        format!("{fake_origin}/12/accounts"),
    ] {
        let resp = get(
            format!("/media/preview?src={}", q(&not_an_image)),
            Some(cookie.clone()),
        )
        .await;
        assert_eq!(resp.status(), 502, "{not_an_image}");
    }

    // Promoted tweets show their image where the tweet has one.
    let with_image = app
        .fake
        .state()
        .promoted_tweets(&account)
        .into_iter()
        .find(|p| p.tweet_id.ends_with(['0', '2', '4', '6', '8']))
        .expect("a promoted tweet with an image");
    let campaign = app
        .fake
        .state()
        .line_items(&account)
        .into_iter()
        .find(|l| l.id == with_image.line_item_id)
        .unwrap()
        .campaign_id;
    // The list reads the campaigns into the mirror (before any sync), then the campaign's page.
    page(&app, &cookie, &format!("/campaigns?account={account}")).await;
    let (_, html) = page(&app, &cookie, &format!("/campaigns/{account}/{campaign}")).await;
    let at = html.find("id=\"promoted-tweets\"").expect(&html);
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    let srcs = thumbs(table);
    assert!(!srcs.is_empty(), "{table}");
    let resp = get(srcs[0].clone(), Some(cookie.clone())).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_list_pages_through_every_page_of_the_domain_keeping_its_search() {
    let (app, key) = TestApp::dry_run_connected(&xads::testing::sqlite_url()).await;
    let a = app.fake.seed_info().usd_account_id.clone();
    let db = &app.state.db;
    let tenant = xads::store::tenants::by_api_key(db, &key)
        .await
        .unwrap()
        .unwrap();
    // 205 library entries: more than the API's default page (200) of the domain's list.
    let now = app.state.clock.now();
    xads::store::media::set_refreshed(db, &tenant.id, &a, now)
        .await
        .unwrap();
    for i in 0..205 {
        let key = format!("3_{}", 1_000_000 + i);
        xads::store::media::upsert(
            db,
            &tenant.id,
            &xads::store::media::MediaRow {
                account_id: a.clone(),
                media_key: key.clone(),
                dry_run: true,
                deleted: false,
                sha256: None,
                data: json!({"media_key": key, "name": format!("m-{i}"), "media_type": "IMAGE",
                    "media_category": "TWEET_IMAGE", "media_status": "TRANSCODE_COMPLETED",
                    "created_at": format!("2026-11-01T00:00:{:02}Z", i % 60), "dry_run": true}),
            },
            now,
        )
        .await
        .unwrap();
    }
    let cookie = login(&app, &key).await;
    let (_, html) = page(&app, &cookie, &format!("/media?account={a}")).await;
    assert!(html.contains("205 media items · page 1 of 11"), "{html}");
    let (_, last) = page(&app, &cookie, &format!("/media?account={a}&page=11")).await;
    assert_eq!(last.matches("<tr><td>").count(), 5, "{last}");

    // A search runs over every page; its page links keep it.
    let (_, found) = page(&app, &cookie, &format!("/media?account={a}&q=m-1")).await;
    // m-1, m-10…m-19, m-100…m-199.
    assert!(found.contains("111 media items · page 1 of 6"), "{found}");
    assert!(
        found.contains(&format!(
            "href=\"/media?account={a}&amp;q=m-1&amp;sort=added&amp;dir=asc&amp;page=2\""
        )),
        "{found}"
    );
    let (_, sixth) = page(&app, &cookie, &format!("/media?account={a}&q=m-1&page=6")).await;
    assert_eq!(sixth.matches("<tr><td>").count(), 11, "{sixth}");
    assert!(sixth.contains("rel=\"prev\""), "{sixth}");
    assert!(!sixth.contains("rel=\"next\""), "{sixth}");
}
