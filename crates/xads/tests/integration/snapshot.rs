//! Golden snapshot of the public JSON API: one fixed script of requests against the service in
//! live mode and in dry-run (each against its own fake X, frozen at [`t0`]) covering every
//! `/api/v1` route with successes and representative failures, recorded request by request
//! (method, path, status, the contract's headers and the raw body) into
//! `tests/integration/snapshots/api.txt` and compared byte for byte on every backend.
//!
//! It guards refactors that must not change behaviour: a mismatch shows the first request that
//! answers differently, and a route of `openapi::ROUTES` that the script never calls fails it
//! too. When a change of the API is intended, regenerate the file and review its diff like code:
//!
//! ```text
//! XADS_UPDATE_SNAPSHOTS=1 cargo test -p xads --test integration snapshot
//! ```
//!
//! Volatile values are replaced in the raw text (field order and formatting stay as served):
//! generated ids (`dry_…`, `exp_…`, `syn_…`: `<dry#1>`, numbered by first appearance, so equal
//! values stay visibly equal), API keys, the ports of the servers, PKCE `state`,
//! `code_challenge` and OAuth 1.0a `oauth_token` values, `lag_seconds`, and `p_best` (its draws
//! are seeded by the experiment's random id; the rest of the results is exact). X's ids stay as
//! they are: the fake's generator is seeded, so they are the same on every run. Timestamps read
//! from the service's wall clock (which runs from `t0` + 5 s, so they are the only instants
//! after `t0` that are not whole hours) become `<time>` without a number: whether two such reads
//! fall in the same second depends on timing, so numbering them would make the snapshot flaky.
//! The fake's instants (`t0` and earlier) and whole hours (stats buckets, windows) stay exact.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use xads_fake::{FakeConfig, FakeX};

use crate::helpers::{TestApp, png, vars_for};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/integration/snapshots/api.txt"
);

/// The fakes' frozen "now" (the service's clock starts 5 s later).
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-20T10:30:00Z")
        .unwrap()
        .to_utc()
}

/// Replaces volatile values in raw text by placeholders numbered per kind by first appearance.
struct Normalizer {
    /// Exact volatile strings known up front (API keys, `127.0.0.1:<port>`) and their kind.
    literals: Vec<(String, &'static str)>,
    numbers: HashMap<(&'static str, String), usize>,
    counts: HashMap<&'static str, usize>,
}

/// Query parameters whose values are random per request.
const RANDOM_PARAMS: [(&str, &str); 3] = [
    ("state=", "state"),
    ("code_challenge=", "challenge"),
    ("oauth_token=", "oauth_token"),
];

/// JSON fields whose numbers vary run to run, and what they become: `lag_seconds` counts wall-clock
/// seconds; `p_best` comes from draws seeded by the experiment's random id (same id, same numbers).
const VOLATILE_NUMBERS: [(&str, &str); 2] = [
    ("\"lag_seconds\":", "<seconds>"),
    ("\"p_best\":", "<p_best>"),
];

impl Normalizer {
    fn new() -> Self {
        Normalizer {
            literals: vec![],
            numbers: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    fn literal(&mut self, value: String, kind: &'static str) {
        self.literals.push((value, kind));
        // Longest first, so a value that contains another is replaced whole.
        self.literals
            .sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    fn placeholder(&mut self, kind: &'static str, value: &str) -> String {
        let next = self.counts.get(kind).copied().unwrap_or(0) + 1;
        let n = *self
            .numbers
            .entry((kind, value.to_owned()))
            .or_insert_with(|| next);
        if n == next {
            self.counts.insert(kind, next);
        }
        format!("<{kind}#{n}>")
    }

    /// `text` with every volatile value replaced, scanning left to right.
    fn text(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let boundary = text[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            if let Some((value, kind)) = self
                .literals
                .iter()
                .find(|(v, _)| rest.starts_with(v.as_str()))
                .cloned()
            {
                if kind == "port" {
                    out.push_str("127.0.0.1:");
                }
                out.push_str(&self.placeholder(kind, &value));
                i += value.len();
                continue;
            }
            if boundary && let Some((len, prefix)) = generated_id(rest) {
                out.push_str(&self.placeholder(prefix, &rest[..len]));
                i += len;
                continue;
            }
            if boundary && let Some(len) = wall_clock_time(rest) {
                out.push_str("<time>");
                i += len;
                continue;
            }
            if let Some((name, kind)) = RANDOM_PARAMS
                .iter()
                .find(|(name, _)| rest.starts_with(name))
                .filter(|_| text[..i].ends_with(['?', '&']))
            {
                let value: String = rest[name.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "-._~%".contains(*c))
                    .collect();
                out.push_str(name);
                out.push_str(&self.placeholder(kind, &value));
                i += name.len() + value.len();
                continue;
            }
            if let Some((field, placeholder)) =
                VOLATILE_NUMBERS.iter().find(|(f, _)| rest.starts_with(*f))
            {
                let number = rest[field.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || "-+.eE".contains(*c))
                    .count();
                if number > 0 {
                    out.push_str(field);
                    out.push_str(placeholder);
                    i += field.len() + number;
                    continue;
                }
            }
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
        out
    }
}

/// A generated id at the start of `s`: `dry_` + 16 hex (dry-run entities) or `<prefix>_` + 20
/// hex (`store::new_id`), followed by a non-word character. Returns (length, prefix).
fn generated_id(s: &str) -> Option<(usize, &'static str)> {
    let underscore = s.find('_')?;
    let prefix = &s[..underscore];
    if !(2..=6).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let hex = s[underscore + 1..]
        .bytes()
        .take_while(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        .count();
    let end = underscore + 1 + hex;
    let word_ends = s[end..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
    if !word_ends || !(hex == 16 || hex == 20) {
        return None;
    }
    // The prefixes of `manage`'s dry-run ids and of `store::new_id`.
    let kind = match (prefix, hex) {
        ("dry", 16) => "dry",
        ("exp", 20) => "exp",
        ("syn", 20) => "syn",
        ("bf", 20) => "bf",
        ("ten", 20) => "ten",
        ("con", 20) => "con",
        ("aud", 20) => "aud",
        ("xw", 20) => "xw",
        ("lease", 20) => "lease",
        ("runner", 20) => "runner",
        _ => return None,
    };
    Some((end, kind))
}

/// An RFC 3339 instant at the start of `s` read from the service's wall clock: after `t0`, within
/// a day of it, and not a whole hour. Returns its length.
fn wall_clock_time(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut len = 19;
    if b.get(len) == Some(&b'.') {
        len += 1;
        while b.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
    }
    match b.get(len) {
        Some(b'Z') => len += 1,
        Some(b'+' | b'-') if digits(len + 1..len + 3) && b.get(len + 3) == Some(&b':') => len += 6,
        _ => return None,
    }
    let t = DateTime::parse_from_rfc3339(&s[..len]).ok()?.to_utc();
    let whole_hour = t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0;
    (t > t0() && t < t0() + Duration::days(1) && !whole_hour).then_some(len)
}

/// A request body.
enum Payload {
    None,
    Json(Value),
    /// Bytes sent as `application/json` as they are (malformed on purpose).
    Raw(&'static str),
    /// A multipart upload: file name, content type, bytes.
    File(&'static str, &'static str, Vec<u8>),
}

/// Who calls.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Invalid,
    /// (label shown in the snapshot, key).
    Key(&'static str, &'a str),
}

/// Records the script into text.
struct Recorder {
    norm: Normalizer,
    out: String,
    n: usize,
    http: reqwest::Client,
    /// The service the script talks to now.
    base: String,
    /// (method, path without the query) of every request sent.
    called: Vec<(String, String)>,
}

/// The response headers that are part of the contract, in this order.
const HEADERS: [&str; 5] = [
    "content-type",
    "content-disposition",
    "location",
    "idempotent-replayed",
    "retry-after",
];

impl Recorder {
    /// A GET without a body.
    async fn get(&mut self, auth: Auth<'_>, path: &str) -> Value {
        self.call(auth, Method::GET, path, &[], Payload::None).await
    }

    /// A request without a body.
    async fn send(&mut self, auth: Auth<'_>, method: Method, path: &str) -> Value {
        self.call(auth, method, path, &[], Payload::None).await
    }

    /// A request with a JSON body.
    async fn json(&mut self, auth: Auth<'_>, method: Method, path: &str, body: Value) -> Value {
        self.call(auth, method, path, &[], Payload::Json(body))
            .await
    }

    /// Sends one request, records it, and returns the body as JSON (`Null` when not).
    async fn call(
        &mut self,
        auth: Auth<'_>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        payload: Payload,
    ) -> Value {
        self.n += 1;
        let bare = path.split('?').next().unwrap_or(path);
        self.called.push((method.to_string(), bare.to_owned()));
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        let mut head = format!("### {} {method} {}\n", self.n, self.norm.text(path));
        match auth {
            Auth::None => {}
            Auth::Invalid => {
                req = req.bearer_auth("xads_not_a_key");
                head.push_str("auth: invalid key\n");
            }
            Auth::Key(label, key) => {
                req = req.bearer_auth(key);
                let _ = writeln!(head, "auth: {label}");
            }
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
            let _ = writeln!(head, "{name}: {value}");
        }
        match payload {
            Payload::None => {}
            Payload::Json(v) => {
                let _ = writeln!(head, "> {}", self.norm.text(&v.to_string()));
                req = req.json(&v);
            }
            Payload::Raw(text) => {
                let _ = writeln!(head, "> {text}");
                req = req
                    .header("content-type", "application/json")
                    .body(text.to_owned());
            }
            Payload::File(name, mime, bytes) => {
                let _ = writeln!(
                    head,
                    "> multipart: file={name} ({mime}, {} bytes)",
                    bytes.len()
                );
                let part = Part::bytes(bytes).file_name(name).mime_str(mime).unwrap();
                req = req.multipart(Form::new().part("file", part));
            }
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let _ = writeln!(head, "< {status}");
        for name in HEADERS {
            if let Some(v) = resp.headers().get(name) {
                let v = self.norm.text(v.to_str().unwrap_or("<not text>"));
                let _ = writeln!(head, "< {name}: {v}");
            }
        }
        let body = resp.text().await.unwrap();
        let parsed = serde_json::from_str(&body).unwrap_or(Value::Null);
        let mut body_text = self.norm.text(&body);
        if body_text.ends_with('\n') {
            head.push_str("< (the body ends with a newline)\n");
        } else {
            body_text.push('\n');
        }
        self.out.push_str(&head);
        self.out.push_str(&body_text);
        self.out.push('\n');
        parsed
    }
}

/// A service with its own fake X frozen at `t0` (and its clock 5 s after), on `db`.
async fn service(db: &str, live: bool) -> TestApp {
    let fake = FakeX::start(FakeConfig {
        start_time: Some(t0()),
        history_days: 10,
        ..FakeConfig::default()
    })
    .await
    .expect("fake X");
    let mut vars = vars_for(db, &fake);
    if live {
        vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
    }
    let app = TestApp::spawn_with(fake, &vars).await;
    app.state
        .clock
        .advance(t0() + Duration::seconds(5) - Utc::now());
    app
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {v}"))
        .to_owned()
}

/// The whole script on `db`; returns the normalized record.
async fn record(db_live: &str, db_dry: &str) -> String {
    let mut r = Recorder {
        norm: Normalizer::new(),
        out: String::new(),
        n: 0,
        http: crate::http_client(),
        base: String::new(),
        called: vec![],
    };
    live_script(&mut r, db_live).await;
    dry_run_script(&mut r, db_dry).await;
    let missing: Vec<String> = xads::web::openapi::ROUTES
        .iter()
        .filter(|route| {
            !r.called
                .iter()
                .any(|(m, p)| m == route.method && matches_template(route.path, p))
        })
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    assert!(
        missing.is_empty(),
        "the script sends no request to these routes; add some: {missing:?}"
    );
    r.out
}

/// Whether `path` is an instance of the OpenAPI `template` (`{param}` = one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

fn register_servers(r: &mut Recorder, app: &TestApp) {
    for url in [app.base.clone(), app.fake.base_url().to_string()] {
        let host = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let port = host.rsplit(':').next().unwrap().to_owned();
        r.norm.literal(format!("127.0.0.1:{port}"), "port");
    }
}

async fn live_script(r: &mut Recorder, db: &str) {
    use Method as M;
    use Payload as P;
    let app = service(db, true).await;
    register_servers(r, &app);
    r.base = app.base.clone();
    let growth = app.tenant("Growth").await;
    let other = app.tenant("Other").await;
    r.norm.literal(growth.clone(), "key");
    r.norm.literal(other.clone(), "key");
    app.connect(&growth).await;
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let (fi, tweets) = (acct.funding_instrument_id.clone(), acct.tweet_ids.clone());
    let a = format!("/api/v1/x_ads/accounts/{}", acct.id);
    let g = Auth::Key("growth", &growth);
    let o = Auth::Key("other (not connected)", &other);

    // Operations and the API's front door.
    r.get(Auth::None, "/healthz").await;
    r.get(Auth::None, "/api/v1/openapi.json").await;
    r.get(Auth::None, "/api/v1/integrations").await;
    r.get(Auth::Invalid, "/api/v1/integrations").await;
    r.get(g, "/api/v1/integrations").await;
    r.get(g, "/api/v1/x_ads/accounts").await;
    r.get(g, "/api/v1/x_ads/accounts?refresh=true").await;
    r.get(g, "/api/v1/x_ads/accounts?refresh=maybe").await;
    r.send(g, M::POST, "/api/v1/integrations/x_ads/webhooks")
        .await;
    r.get(g, "/api/v1/nosuch").await;

    // Connect: start (both methods), refusals, and a tenant that has not connected.
    let connect = "/api/v1/integrations/x_ads/connect";
    r.json(o, M::POST, connect, json!({})).await;
    r.json(o, M::POST, connect, json!({"method": "oauth1"}))
        .await;
    r.json(o, M::POST, connect, json!({"method": "saml"})).await;
    r.json(o, M::POST, connect, json!({"methd": "oauth2"}))
        .await;
    r.call(o, M::POST, connect, &[], P::Raw("{\"method\": "))
        .await;
    r.get(o, "/api/v1/x_ads/accounts").await;
    r.get(o, &format!("{a}/campaigns")).await;

    // Campaigns.
    r.get(g, &format!("{a}/campaigns")).await;
    r.get(g, &format!("{a}/campaigns?refresh=true&count=2"))
        .await;
    let camps = format!("{a}/campaigns");
    r.json(
        g,
        M::POST,
        &camps,
        json!({"name": "", "funding_instrument_id": fi}),
    )
    .await;
    r.json(g, M::POST, &camps, json!({"name": "Budgetless", "funding_instrument_id": fi, "daily_budget_amount_local_micro": -5})).await;
    r.call(g, M::POST, &camps, &[], P::Raw("{\"name\": \"Spring\""))
        .await;
    r.send(g, M::POST, &camps).await;
    let spring = json!({"name": "Spring: launch, wave 1", "funding_instrument_id": fi,
        "daily_budget_amount_local_micro": 5_000_000, "total_budget_amount_local_micro": 50_000_000});
    let idem = [("idempotency-key", "spring-1")];
    let created = r
        .call(g, M::POST, &camps, &idem, P::Json(spring.clone()))
        .await;
    let cid = id(&created);
    r.call(g, M::POST, &camps, &idem, P::Json(spring)).await;
    r.call(
        g,
        M::POST,
        &camps,
        &idem,
        P::Json(json!({"name": "Another", "funding_instrument_id": fi})),
    )
    .await;
    let c = format!("{a}/campaigns/{cid}");
    r.get(g, &c).await;
    r.get(g, &format!("{a}/campaigns/nosuch")).await;
    r.get(g, "/api/v1/x_ads/accounts/18ce5nosuch/campaigns")
        .await;
    r.json(g, M::PATCH, &c, json!({"paused": true})).await;
    r.json(g, M::PATCH, &c, json!({"paused": false})).await;
    r.json(
        g,
        M::PATCH,
        &c,
        json!({"name": "Spring, renamed", "daily_budget_amount_local_micro": 6_000_000}),
    )
    .await;
    r.json(g, M::PATCH, &c, json!({"paused": "yes"})).await;
    r.get(g, &camps).await;

    // Line items.
    let lis = format!("{a}/line_items");
    r.json(g, M::POST, &lis, json!({"campaign_id": cid, "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS", "placements": []})).await;
    let li = r.json(g, M::POST, &lis, json!({"campaign_id": cid, "name": "LI 1", "objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
            "placements": ["ALL_ON_TWITTER", "TWITTER_SEARCH"], "bid_strategy": "MAX", "bid_amount_local_micro": 1_500_000, "paused": true})).await;
    let lid = id(&li);
    let l = format!("{a}/line_items/{lid}");
    r.get(g, &format!("{lis}?campaign_id={cid}")).await;
    r.get(g, &l).await;
    r.json(g, M::PATCH, &l, json!({"paused": false})).await;
    r.json(
        g,
        M::PATCH,
        &l,
        json!({"paused": true, "bid_amount_local_micro": 2_000_000, "name": "LI 1b"}),
    )
    .await;
    r.get(g, &format!("{lis}?refresh=true&campaign_id={cid}"))
        .await;

    // Promoted tweets: pause is a DELETE at X, resume a re-POST.
    let pts = format!("{a}/promoted_tweets");
    r.json(
        g,
        M::POST,
        &pts,
        json!({"line_item_id": lid, "tweet_ids": []}),
    )
    .await;
    let created = r
        .json(
            g,
            M::POST,
            &pts,
            json!({"line_item_id": lid, "tweet_ids": [tweets[0], tweets[1]]}),
        )
        .await;
    let pid = created["data"][0]["id"].as_str().unwrap().to_owned();
    let p = format!("{a}/promoted_tweets/{pid}");
    r.get(g, &format!("{pts}?line_item_id={lid}")).await;
    r.json(g, M::PATCH, &p, json!({"paused": true})).await;
    r.json(g, M::PATCH, &p, json!({"paused": false})).await;
    r.call(
        g,
        M::DELETE,
        &p,
        &[("idempotency-key", "pt-delete")],
        P::None,
    )
    .await;
    r.call(
        g,
        M::DELETE,
        &p,
        &[("idempotency-key", "pt-delete")],
        P::None,
    )
    .await;
    r.send(g, M::DELETE, &l).await;
    r.get(g, &l).await;

    // Media.
    let media = format!("{a}/media");
    let hero = r
        .call(
            g,
            M::POST,
            &media,
            &[],
            P::File("launch/hero.png", "image/png", png()),
        )
        .await;
    r.call(
        g,
        M::POST,
        &media,
        &[],
        P::File("copy.png", "image/png", png()),
    )
    .await;
    r.call(
        g,
        M::POST,
        &media,
        &[],
        P::File("hero.jpg", "image/jpeg", png()),
    )
    .await;
    r.get(g, &media).await;
    // Delete: the entry, then again (gone: 404), then a key that cannot be one.
    let gone = format!("{media}/{}", hero["media_key"].as_str().unwrap_or("3_0"));
    r.call(
        g,
        M::DELETE,
        &gone,
        &[("idempotency-key", "media-delete")],
        P::None,
    )
    .await;
    r.send(g, M::DELETE, &gone).await;
    r.send(g, M::DELETE, &format!("{media}/not-a-key")).await;
    r.get(g, &media).await;

    // Reporting: a sync, then the stored rows by hour, day and total, as JSON and CSV.
    let sync = format!("{a}/stats/sync");
    r.json(g, M::POST, &sync, json!({"from": "someday"})).await;
    r.json(
        g,
        M::POST,
        &sync,
        json!({"from": "2023-01-01", "to": "2024-11-20"}),
    )
    .await;
    // A backfill answers 202 at once; wait for it so nothing runs behind the next requests.
    let backfill = r
        .json(
            g,
            M::POST,
            &sync,
            json!({"from": "2024-11-18", "to": "2024-11-18"}),
        )
        .await;
    let backfill = backfill["sync_id"].as_str().unwrap().to_owned();
    r.get(g, &format!("{sync}/{backfill}?wait=true")).await;
    let run = r.send(g, M::POST, &format!("{sync}?wait=true")).await;
    let sync_id = run["sync_id"].as_str().unwrap().to_owned();
    r.get(g, &format!("{sync}/{sync_id}")).await;
    r.get(g, &format!("{sync}/syn_00000000000000000000")).await;
    r.get(o, &format!("{sync}/{sync_id}")).await;
    // History through X's asynchronous jobs: refused, started, read when done, cancelled when
    // already done (answered as it is), unknown and another tenant's.
    let bf = format!("{a}/stats/backfill");
    r.json(
        g,
        M::POST,
        &bf,
        json!({"from": "2024-11-18", "to": "2024-11-10"}),
    )
    .await;
    r.json(
        g,
        M::POST,
        &bf,
        json!({"from": "2024-11-18", "to": "2024-11-19", "segment": "METROS"}),
    )
    .await;
    let started = r
        .json(
            g,
            M::POST,
            &bf,
            json!({"from": "2024-11-18", "to": "2024-11-19"}),
        )
        .await;
    let bf_id = started["backfill_id"].as_str().unwrap().to_owned();
    r.get(g, &format!("{bf}/{bf_id}?wait=true")).await;
    r.send(g, M::DELETE, &format!("{bf}/{bf_id}")).await;
    r.get(g, &format!("{bf}/bf_00000000000000000000")).await;
    r.get(o, &format!("{bf}/{bf_id}")).await;
    let seeded = seed_campaign(&app, &acct.id);
    let stats = format!("{a}/stats?ids={seeded}");
    let hours = "from=2024-11-20T05:00:00Z&to=2024-11-20T08:00:00Z";
    r.get(g, &format!("{stats}&{hours}")).await;
    r.call(
        g,
        M::GET,
        &format!("{stats}&{hours}"),
        &[("accept", "text/csv")],
        P::None,
    )
    .await;
    r.get(
        g,
        &format!("{stats}&granularity=day&from=2024-11-17&to=2024-11-18"),
    )
    .await;
    r.get(g, &format!("{stats}&granularity=total")).await;
    r.get(g, &format!("{stats}&granularity=total&entity=line_item"))
        .await;
    r.get(g, &format!("{stats}&granularity=week")).await;
    r.get(g, &format!("{stats}&from=2024-11-20&to=2024-11-19"))
        .await;
    r.get(g, "/api/v1/integrations").await;

    // FX rates (a small currency's list: the bundled table is long).
    r.get(g, "/api/v1/fx_rates?currency=KWD").await;
    r.json(
        g,
        M::POST,
        "/api/v1/fx_rates",
        json!({"date": "2024-11-18", "currency": "KWD", "usd_per_unit": "3.2571"}),
    )
    .await;
    r.json(g, M::POST, "/api/v1/fx_rates", json!([{"date": "2024-11-19", "currency": "kwd", "usd_per_unit": 3.2569}, {"date": "2024-13-01", "currency": "KWD", "usd_per_unit": "1"}])).await;
    r.json(g, M::POST, "/api/v1/fx_rates", json!({"rates": []}))
        .await;
    r.get(g, "/api/v1/fx_rates?currency=KWD").await;
    r.get(g, "/api/v1/fx_rates?currency=K").await;

    // Experiments.
    let home = r.json(g, M::POST, &camps, json!({"name": "Experiment home", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 50_000_000})).await;
    let home = id(&home);
    let exps = format!("{a}/experiments");
    let variants: Vec<Value> = (0..2)
        .map(|i| {
            json!({"name": format!("V{i}"), "control": i == 0, "tweet_id": tweets[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                    "daily_budget_amount_local_micro": 5_000_000}})
        })
        .collect();
    let body = json!({"name": "Headline test", "campaign_id": home, "primary_metric": "ctr",
        "schedule": {"mode": "rotate", "slot_hours": 6}, "stop": {"min_impressions": 1000, "max_days": 14},
        "variants": variants});
    r.json(
        g,
        M::POST,
        &exps,
        json!({"name": "No variants", "campaign_id": home, "variants": []}),
    )
    .await;
    let exp = r.json(g, M::POST, &exps, body).await;
    let eid = id(&exp);
    let e = format!("{exps}/{eid}");
    r.get(g, &exps).await;
    r.get(g, &e).await;
    r.get(g, &format!("{exps}/exp_00000000000000000000")).await;
    r.send(g, M::POST, &format!("{e}/start")).await;
    r.send(g, M::POST, &format!("{e}/start")).await;
    r.get(g, &format!("{e}/results")).await;
    r.send(g, M::POST, &format!("{e}/stop")).await;
    r.send(g, M::POST, &format!("{e}/conclude")).await;
    r.json(
        g,
        M::POST,
        &format!("{e}/conclude"),
        json!({"winner": "V9"}),
    )
    .await;
    r.json(
        g,
        M::POST,
        &format!("{e}/conclude"),
        json!({"winner": "V1", "reason": "brand call"}),
    )
    .await;
    r.send(g, M::POST, &format!("{e}/pivot")).await;
    r.get(o, &e).await;

    // Delete, then disconnect (twice: the second finds nothing to revoke).
    r.send(g, M::DELETE, &c).await;
    r.get(g, &c).await;
    r.send(g, M::DELETE, "/api/v1/integrations/x_ads").await;
    r.get(g, "/api/v1/integrations").await;
    r.get(g, "/api/v1/x_ads/accounts").await;
    r.get(g, &camps).await;
    r.send(g, M::DELETE, "/api/v1/integrations/x_ads").await;
}

/// The first seeded campaign of `account` (it has stats history).
fn seed_campaign(app: &TestApp, account: &str) -> String {
    let campaigns = app.fake.state().campaigns(account);
    campaigns.first().expect("a seeded campaign").id.clone()
}

async fn dry_run_script(r: &mut Recorder, db: &str) {
    use Method as M;
    use Payload as P;
    let app = service(db, false).await;
    register_servers(r, &app);
    r.base = app.base.clone();
    let growth = app.tenant("Growth").await;
    let other = app.tenant("Other").await;
    r.norm.literal(growth.clone(), "key");
    r.norm.literal(other.clone(), "key");
    app.connect(&growth).await;
    let seed = app.fake.state().seed_info();
    let acct = seed.account(&seed.usd_account_id).unwrap().clone();
    let (fi, tweets) = (acct.funding_instrument_id.clone(), acct.tweet_ids.clone());
    let a = format!("/api/v1/x_ads/accounts/{}", acct.id);
    let g = Auth::Key("growth (dry-run service)", &growth);
    let o = Auth::Key("other (dry-run service)", &other);

    r.get(g, "/api/v1/integrations").await;
    let camps = format!("{a}/campaigns");
    let idem = [("idempotency-key", "dry-1")];
    let body = json!({"name": "Dry", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 2_000_000});
    let created = r
        .call(g, M::POST, &camps, &idem, P::Json(body.clone()))
        .await;
    let cid = id(&created);
    r.call(g, M::POST, &camps, &idem, P::Json(body)).await;
    let c = format!("{a}/campaigns/{cid}");
    r.get(g, &c).await;
    r.json(g, M::PATCH, &c, json!({"paused": true})).await;
    r.json(g, M::PATCH, &c, json!({"paused": false, "name": "Dry 2"}))
        .await;
    r.get(g, &camps).await;
    let li = r.json(g, M::POST, &format!("{a}/line_items"), json!({"campaign_id": cid, "objective": "REACH", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]})).await;
    let lid = id(&li);
    let l = format!("{a}/line_items/{lid}");
    r.get(g, &l).await;
    r.json(g, M::PATCH, &l, json!({"paused": true})).await;
    r.get(g, &format!("{a}/line_items?campaign_id={cid}")).await;
    let pts = r
        .json(
            g,
            M::POST,
            &format!("{a}/promoted_tweets"),
            json!({"line_item_id": lid, "tweet_ids": [tweets[0]]}),
        )
        .await;
    let pid = pts["data"][0]["id"].as_str().unwrap().to_owned();
    let p = format!("{a}/promoted_tweets/{pid}");
    r.json(g, M::PATCH, &p, json!({"paused": true})).await;
    r.json(g, M::PATCH, &p, json!({"paused": false})).await;
    r.get(g, &format!("{a}/promoted_tweets?line_item_id={lid}"))
        .await;
    r.send(g, M::DELETE, &p).await;
    let hero = r
        .call(
            g,
            M::POST,
            &format!("{a}/media"),
            &[],
            P::File("hero.png", "image/png", png()),
        )
        .await;
    r.get(g, &format!("{a}/media")).await;
    let dry_media = hero["media_key"].as_str().unwrap_or("dry_0").to_owned();
    r.send(g, M::DELETE, &format!("{a}/media/{dry_media}"))
        .await;
    r.get(g, &format!("{a}/media")).await;

    let exps = format!("{a}/experiments");
    let variants: Vec<Value> = (0..2)
        .map(|i| {
            json!({"name": format!("V{i}"), "control": i == 0, "tweet_id": tweets[i],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS", "placements": ["ALL_ON_TWITTER"]}})
        })
        .collect();
    let exp = r
        .json(
            g,
            M::POST,
            &exps,
            json!({"name": "Dry test", "campaign_id": cid, "primary_metric": "cpc",
            "schedule": {"mode": "concurrent"}, "variants": variants}),
        )
        .await;
    let e = format!("{exps}/{}", id(&exp));
    r.send(g, M::POST, &format!("{e}/start")).await;
    r.get(g, &format!("{e}/results")).await;
    r.send(g, M::POST, &format!("{e}/stop")).await;

    // Another tenant with the same X account sees none of the first one's entities.
    app.connect(&other).await;
    r.get(o, &c).await;
    r.json(o, M::PATCH, &c, json!({"paused": true})).await;
    r.get(o, &e).await;
    r.get(o, &camps).await;

    r.send(g, M::DELETE, &l).await;
    r.send(g, M::DELETE, &c).await;
    r.get(g, &c).await;
}

/// The blocks of a record, one per request.
fn blocks(record: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut start = 0;
    for (i, _) in record.match_indices("\n### ") {
        out.push(&record[start..=i]);
        start = i + 1;
    }
    out.push(&record[start..]);
    out
}

/// Up to 120 bytes of `line` before `at` and 200 from it (on character boundaries).
fn around(line: &str, at: usize) -> &str {
    let mut start = at.saturating_sub(120);
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + 200).min(line.len());
    while !line.is_char_boundary(end) {
        end += 1;
    }
    &line[start..end]
}

/// A readable account of the first request whose record differs, or `None` when equal.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (e, a) = (blocks(expected), blocks(actual));
    let i = (0..e.len().max(a.len()))
        .find(|&i| e.get(i) != a.get(i))
        .unwrap_or(0);
    let (eb, ab) = (
        e.get(i).copied().unwrap_or(""),
        a.get(i).copied().unwrap_or(""),
    );
    let mut out = format!(
        "request {} of the snapshot differs (- golden, + now):\n",
        i + 1
    );
    let (el, al): (Vec<&str>, Vec<&str>) = (eb.lines().collect(), ab.lines().collect());
    for j in 0..el.len().max(al.len()) {
        match (el.get(j), al.get(j)) {
            (Some(x), Some(y)) if x == y => {
                let _ = writeln!(out, "  {x}");
            }
            (Some(x), Some(y)) if x.len().max(y.len()) > 240 => {
                // One long JSON line: show where it starts to differ.
                let at = x
                    .char_indices()
                    .zip(y.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(x.len().min(y.len()), |((i, _), _)| i);
                let _ = writeln!(out, "  (a long line; it differs from byte {at} on)");
                let _ = writeln!(out, "- …{}", around(x, at));
                let _ = writeln!(out, "+ …{}", around(y, at));
            }
            (x, y) => {
                if let Some(x) = x {
                    let _ = writeln!(out, "- {x}");
                }
                if let Some(y) = y {
                    let _ = writeln!(out, "+ {y}");
                }
            }
        }
    }
    let _ = write!(
        out,
        "({} requests in the golden file, {} now; regenerate with XADS_UPDATE_SNAPSHOTS=1 if the change is intended)",
        e.len(),
        a.len()
    );
    Some(out)
}

#[tokio::test]
async fn public_api_answers_match_the_golden_snapshot() {
    let update = std::env::var("XADS_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    for db in xads::testing::all_backend_urls().await {
        let dry_db = if db.starts_with("sqlite") {
            xads::testing::sqlite_url()
        } else {
            xads::testing::postgres_schema_url()
                .await
                .expect("postgres")
        };
        let actual = record(&db, &dry_db).await;
        if update && db.starts_with("sqlite") {
            std::fs::write(GOLDEN, &actual).expect("write the golden file");
            eprintln!("rewrote {GOLDEN}");
            continue;
        }
        let expected = std::fs::read_to_string(GOLDEN)
            .expect("the golden file (XADS_UPDATE_SNAPSHOTS=1 writes it)");
        if let Some(diff) = first_difference(&expected, &actual) {
            panic!("{}: {diff}", db.split(':').next().unwrap_or("db"));
        }
    }
}

#[test]
fn normalizer_numbers_volatile_values_by_first_appearance() {
    let mut n = Normalizer::new();
    n.literal("127.0.0.1:40123".into(), "port");
    let text = n.text(
        r#"{"id":"dry_0123456789abcdef","x":"dry_fedcba9876543210","y":"dry_0123456789abcdef","s":"syn_0123456789abcdef0123","t":"2024-11-20T10:30:07Z","h":"2024-11-20T11:00:00Z","f":"2024-11-20T10:30:00Z","u":"http://127.0.0.1:40123/a?state=AbC-1&code_challenge=xyz&scope=a","lag_seconds":3,"p_best":0.48825,"keep":"xdry_0123456789abcdef","hash":"0123456789abcdef0123456789abcdef"}"#,
    );
    assert_eq!(
        text,
        r#"{"id":"<dry#1>","x":"<dry#2>","y":"<dry#1>","s":"<syn#1>","t":"<time>","h":"2024-11-20T11:00:00Z","f":"2024-11-20T10:30:00Z","u":"http://127.0.0.1:<port#1>/a?state=<state#1>&code_challenge=<challenge#1>&scope=a","lag_seconds":<seconds>,"p_best":<p_best>,"keep":"xdry_0123456789abcdef","hash":"0123456789abcdef0123456789abcdef"}"#
    );
    assert!(
        first_difference(
            "### 1 GET /a\n< 200 OK\n{}\n\n",
            "### 1 GET /a\n< 200 OK\n{}\n\n"
        )
        .is_none()
    );
    let diff = first_difference(
        "### 1 GET /a\n< 200 OK\n{}\n\n### 2 GET /b\n< 200 OK\n{}\n\n",
        "### 1 GET /a\n< 200 OK\n{}\n\n### 2 GET /b\n< 404 Not Found\n{}\n\n",
    )
    .unwrap();
    assert!(diff.starts_with("request 2 "), "{diff}");
    assert!(diff.contains("- < 200 OK\n+ < 404 Not Found\n"), "{diff}");
}
