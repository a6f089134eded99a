//! The web UI in a real browser: headless Chromium driven over WebDriver (fantoccini), against
//! `xads demo`'s wiring (the service in live mode against a fresh fake X). Every page is
//! audited with axe-core (injected by WebDriver; no serious or critical violation passes),
//! checked not to scroll sideways at 360 and 390 px, and screenshotted at 390 px and 1400 px
//! into `target/screenshots/` (`NAME-390.png`, `NAME-1400.png`). Skips with one line where
//! Chromium, chromedriver or axe-core is absent (fails instead under
//! `XADS_TEST_REQUIRE_SERVICES=1`); `.ci/run` installs axe-core from the npm registry into
//! `target/axe-core` (`XADS_AXE_CORE` names another `axe.min.js`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use xads::demo::Demo;

const CHROMIUM: &str = "chromium";
const CHROMEDRIVER: &str = "chromedriver";
const WAIT: Duration = Duration::from_secs(60);

fn on_path(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

/// axe-core's `axe.min.js`: `XADS_AXE_CORE`, else where `.ci/run` installs it.
fn axe_core() -> Option<PathBuf> {
    let path = std::env::var_os("XADS_AXE_CORE").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/axe-core/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    path.is_file().then_some(path)
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots dir");
    dir
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(bin: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = tokio::process::Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A browser session; retries the first connection while chromedriver starts listening.
    async fn browser(&mut self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": on_path(CHROMIUM).expect("chromium").to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut last_error = String::new();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&self.url)
                .await
            {
                Ok(c) => return c,
                Err(e) => last_error = e.to_string(),
            }
            // Waiting for chromedriver to listen, not for a timing-dependent outcome.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last_error}");
    }
}

/// A 1×1 PNG (signature, IHDR, IDAT, IEND).
fn tiny_png() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (&b"IHDR"[..], vec![0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]),
        (b"IDAT", vec![0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]),
        (b"IEND", vec![]),
    ] {
        v.extend((data.len() as u32).to_be_bytes());
        v.extend(kind);
        v.extend(&data);
        v.extend([0u8; 4]);
    }
    v
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// The page's width beyond the viewport, in CSS pixels (0: nothing scrolls sideways).
async fn sideways(c: &Client) -> i64 {
    c.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        vec![],
    )
    .await
    .expect("measure the page")
    .as_i64()
    .unwrap_or(0)
}

/// The widths every page is checked at: the narrowest supported phone, the phone, a
/// desktop. Screenshots are taken at the last two.
const WIDTHS: [(u32, bool); 3] = [(360, false), (390, true), (1400, true)];

/// Audits the page the browser shows: axe-core finds no serious or critical violation (WCAG
/// 2.2 A/AA rules and best practices), the page does not scroll sideways at any of [`WIDTHS`],
/// and `name`-390.png / `name`-1400.png are written. The window is left at the desktop size.
async fn audit(c: &Client, axe: &str, name: &str) {
    for (width, screenshot) in WIDTHS {
        c.set_window_size(width, 900).await.expect("resize");
        let over = sideways(c).await;
        if over > 0 {
            shot(c, &format!("failure-{name}-{width}")).await;
        }
        assert_eq!(
            over, 0,
            "{name} scrolls sideways by {over} px at {width} px"
        );
        if screenshot {
            // The whole page: as tall as its content (at most 4 000 px).
            let height = c
                .execute("return document.documentElement.scrollHeight;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_u64())
                .unwrap_or(900)
                .clamp(600, 4000);
            c.set_window_size(width, height as u32 + 140)
                .await
                .expect("resize");
            shot(c, &format!("{name}-{width}")).await;
            c.set_window_size(width, 900).await.expect("resize");
        }
        let script = format!(
            "{axe}\n;const done = arguments[arguments.length - 1];\
             axe.run(document, {{resultTypes: ['violations']}}).then(r => done(r.violations\
               .filter(v => v.impact === 'serious' || v.impact === 'critical')\
               .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' — '\
                 + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))\
               .catch(e => done(['axe failed: ' + e]));"
        );
        let found = c
            .execute_async(&script, vec![])
            .await
            .expect("run axe-core");
        let found: Vec<String> = serde_json::from_value(found).unwrap_or_default();
        assert!(
            found.is_empty(),
            "{name} at {width} px: serious or critical accessibility violations:\n{}",
            found.join("\n")
        );
    }
}

async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(e) => e,
        Err(e) => {
            // Leave the page that did not show it, for whoever reads the failure.
            shot(c, "failure").await;
            let problem = match c.find(Locator::Css(".problem")).await {
                Ok(p) => p.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("waiting for {css}: {e}; page problem: {problem:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_clicks_through_the_dashboard() {
    let (Some(_), Some(driver_bin)) = (on_path(CHROMIUM), on_path(CHROMEDRIVER)) else {
        xads::testing::skip_or_fail(
            "no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)",
        );
        return;
    };
    let Some(axe) = axe_core() else {
        xads::testing::skip_or_fail(
            "no axe-core (npm install --prefix target/axe-core axe-core@4, as .ci/run does)",
        );
        return;
    };
    let axe = std::fs::read_to_string(axe).expect("read axe-core");
    crate::init_logs();
    let env = HashMap::from([
        ("XADS_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        ("DATABASE_URL".to_owned(), xads::testing::sqlite_url()),
    ]);
    let demo = Demo::start(&env).await.expect("demo");
    let base = demo.url.clone();
    let key = demo.login_key.clone();
    let Demo { app, fake, .. } = demo;
    let seed = fake.seed_info();
    let tweets = seed
        .account(&seed.usd_account_id)
        .expect("usd account")
        .tweet_ids
        .clone();
    let world = World {
        state: fake.state().clone(),
        usd: seed.usd_account_id.clone(),
        usd_tz: seed
            .account(&seed.usd_account_id)
            .expect("usd account")
            .timezone
            .parse()
            .expect("a zone"),
    };
    let server = tokio::spawn(app.run(std::future::pending()));

    let profile =
        std::env::temp_dir().join(format!("xads-chromium-{:016x}", rand::random::<u64>()));
    let mut driver = Driver::start(&driver_bin).await;
    let c = driver.browser(&profile).await;
    let result = tokio::spawn(walk(c.clone(), axe, base, key, tweets, world)).await;
    let _ = c.close().await;
    server.abort();
    fake.shutdown().await;
    let _ = std::fs::remove_dir_all(&profile);
    drop(driver);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Clicks `css` and waits until the browser has left the current page (its root went stale), so
/// later lookups see the next page, not this one.
async fn click_to_next_page(c: &Client, css: &str) {
    let old_root = c.find(Locator::Css("html")).await.unwrap();
    wait_css(c, css).await.click().await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("html"))
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while old_root.tag_name().await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "{css} did not leave the page"
        );
        // Polling for the navigation like fantoccini's own waits do.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    wait_css(c, css).await.text().await.unwrap()
}

/// What the walk needs of the fake X to know the numbers the pages must show.
struct World {
    /// The fake's state (its generator's seed, entities and clock).
    state: xads_fake::FakeState,
    /// The USD account, and its time zone.
    usd: String,
    usd_tz: chrono_tz::Tz,
}

/// Starts a backfill of `account` (`POST …/stats/backfill` with `body`) and waits until it
/// succeeded; answers the window it read.
async fn backfill(
    base: &str,
    key: &str,
    account: &str,
    body: serde_json::Value,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let http = crate::http_client();
    let url = format!("{base}/api/v1/x_ads/accounts/{account}/stats/backfill");
    let resp = http
        .post(&url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{body}");
    let started: serde_json::Value = resp.json().await.unwrap();
    let id = started["backfill_id"]
        .as_str()
        .expect("backfill_id")
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        // `?wait=true` answers when it is done, or after a bounded wait.
        let b: serde_json::Value = http
            .get(format!("{url}/{id}?wait=true"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match b["status"].as_str() {
            Some("succeeded") => {
                let t = |k: &str| {
                    chrono::DateTime::parse_from_rfc3339(b[k].as_str().unwrap())
                        .unwrap()
                        .to_utc()
                };
                return (t("from"), t("to"));
            }
            Some("running") => assert!(std::time::Instant::now() < deadline, "{b}"),
            _ => panic!("backfill {body}: {b}"),
        }
    }
}

/// The breakdown and the levels of the Reports page (issue 18): a PLATFORMS backfill of the USD
/// account (X's asynchronous jobs at the fake) over the page's 14 days, chosen in "Split by":
/// the stacked bar and the table per platform carry the fake generator's split exactly; then the
/// level selector's line items and promoted tweets, named, with the generator's numbers.
async fn breakdown_and_levels(c: &Client, axe: &str, base: &str, key: &str, world: &World) {
    use xads_fake::{HourMetrics, segments_of, split_hour};
    let today = world.state.now().with_timezone(&world.usd_tz).date_naive();
    let from = today - chrono::Duration::days(13);
    let dates = json!({"from": from.to_string(), "to": today.to_string()});
    let mut segmented = dates.clone();
    segmented["segment"] = json!("PLATFORMS");
    let (seg_from, seg_to) = backfill(base, key, &world.usd, segmented).await;
    // The line items' unsegmented rows over the same days (the connect's backfill stores them
    // too; this one is waited for).
    let (li_from, li_to) = backfill(base, key, &world.usd, dates).await;

    let seed = world.state.config().seed;
    let names: Vec<String> = segments_of(seed, &world.usd, "PLATFORMS", None)
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mut per_segment: std::collections::BTreeMap<String, HourMetrics> = Default::default();
    for (_, li, h, m) in crate::reporting::served_line_item_hours_of(
        &world.state,
        &world.usd,
        seg_from,
        seg_to,
        &Default::default(),
    ) {
        for (name, part) in names
            .iter()
            .zip(split_hour(seed, &li, h, "PLATFORMS", m, names.len()))
        {
            let e = per_segment.entry(name.clone()).or_default();
            *e = *e + part;
        }
    }
    per_segment.retain(|_, m| *m != HourMetrics::default());
    assert!(per_segment.len() > 1, "{per_segment:?}");

    c.goto(&format!(
        "{base}/reports?account={}&from={from}&to={today}",
        world.usd
    ))
    .await
    .unwrap();
    // "Split by" Platform, then Show: a plain GET form.
    wait_css(c, "#segment option[value='PLATFORMS']")
        .await
        .click()
        .await
        .unwrap();
    click_to_next_page(c, "#breakdown-card button[type=submit]").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or_default()
            .contains("segment=PLATFORMS")
    );
    // The stacked bar: a slice per segment, titled with its share.
    let slices = c
        .find_all(Locator::Css("#breakdown-card svg.share rect"))
        .await
        .unwrap();
    assert_eq!(slices.len(), per_segment.len());
    // The table: a row per segment with the generator's numbers (USD account: spend in USD).
    let rows = c
        .find_all(Locator::Css("#breakdown tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), per_segment.len());
    let group = |n: u64| {
        let s = n.to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    for (name, m) in &per_segment {
        let cells = c
            .find_all(Locator::Css(&format!(
                "#breakdown tr[data-segment='{name}'] td"
            )))
            .await
            .unwrap();
        let mut texts = Vec::new();
        for cell in &cells {
            texts.push(cell.text().await.unwrap());
        }
        assert_eq!(texts[0], *name);
        assert_eq!(texts[1], group(m.impressions), "{name}: {texts:?}");
        assert_eq!(texts[2], group(m.clicks), "{name}: {texts:?}");
        assert_eq!(texts[5], group(m.conversions), "{name}: {texts:?}");
        assert_eq!(
            texts[6],
            xads::money::with_currency(
                rust_decimal::Decimal::new(m.billed_charge_local_micro, 6),
                "USD"
            ),
            "{name}: {texts:?}"
        );
    }
    audit(c, axe, "07e-reports-breakdown").await;
    let card = wait_css(c, "#breakdown-card").await;
    let png = card.screenshot().await.expect("breakdown screenshot");
    std::fs::write(
        screenshots_dir().join("07e-reports-breakdown-card.png"),
        png,
    )
    .unwrap();

    // The level selector: line items, each by its name and its campaign's, with the
    // generator's numbers; the breakdown stays chosen.
    click_to_next_page(c, "#level-line_item").await;
    let query = c
        .current_url()
        .await
        .unwrap()
        .query()
        .unwrap_or_default()
        .to_owned();
    assert!(
        query.contains("level=line_item") && query.contains("segment=PLATFORMS"),
        "{query}"
    );
    let mut per_item: std::collections::BTreeMap<String, (String, u64)> = Default::default();
    for (campaign, li, _, m) in crate::reporting::served_line_item_hours_of(
        &world.state,
        &world.usd,
        li_from,
        li_to,
        &Default::default(),
    ) {
        per_item.entry(li).or_insert((campaign, 0)).1 += m.impressions;
    }
    assert!(!per_item.is_empty());
    let items = world.state.line_items(&world.usd);
    let campaigns = world.state.campaigns(&world.usd);
    for (li, (campaign, impressions)) in &per_item {
        let row = format!("#by-line-item tr[data-id='{li}']");
        let name = text_of(c, &format!("{row} td:first-child")).await;
        let li_name = items
            .iter()
            .find(|l| &l.id == li)
            .unwrap()
            .name
            .clone()
            .unwrap();
        let c_name = &campaigns.iter().find(|x| &x.id == campaign).unwrap().name;
        assert!(
            name.starts_with(&li_name) && name.contains(&format!("in {c_name}")),
            "{name}"
        );
        assert_eq!(
            text_of(c, &format!("{row} td:nth-child(2)")).await,
            group(*impressions),
            "{li}"
        );
    }
    audit(c, axe, "07f-reports-line-items").await;
    let card = wait_css(c, "#level-card").await;
    let png = card.screenshot().await.expect("line items screenshot");
    std::fs::write(
        screenshots_dir().join("07f-reports-line-items-table.png"),
        png,
    )
    .unwrap();

    // The promoted tweets the same backfill stored: each under its tweet and its line item's
    // name, with the generator's numbers.
    click_to_next_page(c, "#level-promoted_tweet").await;
    let mut per_tweet: std::collections::BTreeMap<String, u64> = Default::default();
    for ((pt, _), m) in
        crate::reporting::expected_promoted_tweets(&world.state, &world.usd, li_from, li_to)
    {
        *per_tweet.entry(pt).or_default() += m.impressions;
    }
    assert!(!per_tweet.is_empty());
    let tweets = world.state.promoted_tweets(&world.usd);
    for pt in tweets.iter().filter(|pt| per_tweet.contains_key(&pt.id)) {
        let row = format!("#by-promoted-tweet tr[data-id='{}']", pt.id);
        let name = text_of(c, &format!("{row} td:first-child")).await;
        let li_name = items
            .iter()
            .find(|l| l.id == pt.line_item_id)
            .unwrap()
            .name
            .clone()
            .unwrap();
        assert!(
            name.starts_with(&format!("Tweet {}", pt.tweet_id))
                && name.contains(&format!("in {li_name}")),
            "{name}"
        );
        assert_eq!(
            text_of(c, &format!("{row} td:nth-child(2)")).await,
            group(per_tweet[&pt.id]),
            "{}",
            pt.id
        );
    }
    audit(c, axe, "07g-reports-promoted-tweets").await;
    let card = wait_css(c, "#level-card").await;
    let png = card.screenshot().await.expect("promoted tweets screenshot");
    std::fs::write(
        screenshots_dir().join("07g-reports-promoted-tweets-table.png"),
        png,
    )
    .unwrap();
}

async fn walk(
    c: Client,
    axe: String,
    base: String,
    key: String,
    tweets: Vec<String>,
    world: World,
) {
    let axe = axe.as_str();
    // Not logged in: every page sends the browser to the login form.
    c.goto(&format!("{base}/campaigns")).await.unwrap();
    wait_css(&c, "input#key").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    audit(&c, axe, "01-login").await;

    // A wrong key is refused; the right one lands on Integrations, not yet connected.
    c.find(Locator::Css("input#key"))
        .await
        .unwrap()
        .send_keys("xads_wrong")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&c, ".problem").await.contains("not valid"));
    c.find(Locator::Css("input#key"))
        .await
        .unwrap()
        .send_keys(&key)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#x_ads[data-status=disconnected]").await;
    assert_eq!(text_of(&c, "#mode").await, "Live");
    assert!(
        c.find(Locator::Css("#connect-oauth1")).await.is_ok(),
        "OAuth 1.0a offered when configured"
    );
    audit(&c, axe, "02-integrations-disconnected").await;

    // Connect: the fake's authorize page approves at once and sends the browser back.
    c.find(Locator::Css("#connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#x_ads[data-status=connected]").await;
    // The callback's `?connected=x_ads` became a one-shot message: the URL is clean.
    assert_eq!(c.current_url().await.unwrap().query(), None);
    let accounts = text_of(&c, "#accounts").await;
    for currency in ["USD", "JPY", "KWD"] {
        assert!(accounts.contains(currency), "{accounts}");
    }
    assert!(text_of(&c, ".flash").await.contains("connected"));
    audit(&c, axe, "03-integrations-connected").await;

    // Campaigns: the seeded ones are listed; create one, then pause it.
    c.goto(&format!("{base}/campaigns")).await.unwrap();
    wait_css(&c, "#campaigns tbody tr[data-id]").await;
    c.find(Locator::Css("#name"))
        .await
        .unwrap()
        .send_keys("Browser spring push")
        .await
        .unwrap();
    c.find(Locator::Css("#daily"))
        .await
        .unwrap()
        .send_keys("40")
        .await
        .unwrap();
    c.find(Locator::Css("#total"))
        .await
        .unwrap()
        .send_keys("400")
        .await
        .unwrap();
    c.find(Locator::Css("#create"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&c, ".flash").await.contains("Campaign created"));
    let row = "#campaigns tr[data-name='Browser spring push']";
    // Created paused: "Start now" was not ticked.
    assert!(
        text_of(&c, &format!("{row} .status"))
            .await
            .contains("Paused")
    );
    let row_text = text_of(&c, row).await;
    assert!(
        row_text.contains("$40.00") && row_text.contains("$400.00"),
        "{row_text}"
    );
    click_to_next_page(&c, &format!("{row} button")).await;
    assert!(text_of(&c, ".flash").await.contains("Resumed"));
    assert!(
        text_of(&c, &format!("{row} .status"))
            .await
            .contains("Active")
    );
    click_to_next_page(&c, &format!("{row} button")).await;
    assert!(text_of(&c, ".flash").await.contains("Paused"));
    assert!(
        text_of(&c, &format!("{row} .status"))
            .await
            .contains("Paused")
    );
    audit(&c, axe, "04-campaigns").await;

    // Kuwait: 5 000 KWD a day asks for confirmation, with its USD equivalent, before creating.
    click_to_next_page(&c, "p.tabs a[title='Kuwait Growth']").await;
    assert!(text_of(&c, "#budget-note").await.contains("1 KWD = "));
    c.find(Locator::Css("#name"))
        .await
        .unwrap()
        .send_keys("Dinar push")
        .await
        .unwrap();
    c.find(Locator::Css("#daily"))
        .await
        .unwrap()
        .send_keys("5000")
        .await
        .unwrap();
    click_to_next_page(&c, "#create").await;
    let confirm = text_of(&c, "#budget-confirm").await;
    assert!(
        confirm.contains("5,000.000 KWD") && confirm.contains("≈ $"),
        "{confirm}"
    );
    audit(&c, axe, "04b-budget-confirm").await;
    click_to_next_page(&c, "#confirm-budget").await;
    assert!(text_of(&c, ".flash").await.contains("Campaign created"));
    let dinar = text_of(&c, "#campaigns tr[data-name='Dinar push']").await;
    assert!(
        dinar.contains("5,000.000 KWD") && dinar.contains("Paused"),
        "{dinar}"
    );
    click_to_next_page(&c, "p.tabs a[title='API McTestface']").await;

    // A seeded campaign's line items and promoted tweets.
    click_to_next_page(
        &c,
        "#campaigns tbody tr[data-id]:not([data-name='Browser spring push']) a",
    )
    .await;
    wait_css(&c, "#line-items tbody tr").await;
    // Promoted tweets read as their text (from X's GET …/tweets), not as ids.
    let items = text_of(&c, "#line-items").await;
    assert!(items.contains('“'), "{items}");
    c.find(Locator::Css("#li-name"))
        .await
        .unwrap()
        .send_keys("Browser line item")
        .await
        .unwrap();
    click_to_next_page(&c, "#create-line-item button").await;
    assert!(
        text_of(&c, "#line-items")
            .await
            .contains("Browser line item")
    );
    c.find(Locator::Css("#tweet"))
        .await
        .unwrap()
        .send_keys(&tweets[3])
        .await
        .unwrap();
    click_to_next_page(&c, "#promote button").await;
    let promoted = text_of(&c, "#promoted-tweets").await;
    assert!(promoted.contains(&tweets[3]), "{promoted}");
    assert!(promoted.contains('“'), "{promoted}");
    audit(&c, axe, "05-campaign-line-items").await;

    // Delete asks first.
    c.goto(&format!("{base}/campaigns")).await.unwrap();
    let delete = format!("{row} a.btn");
    c.find(Locator::Css(&delete))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(&c, "#confirm-delete").await.click().await.unwrap();
    assert!(text_of(&c, ".flash").await.contains("deleted"));
    assert!(c.find(Locator::Css(row)).await.is_err());

    // Media library.
    c.goto(&format!("{base}/media")).await.unwrap();
    wait_css(&c, "#media tbody tr").await;
    // Status and type in words, not X's enums.
    let media = text_of(&c, "#media").await;
    assert!(media.contains("Ready"), "{media}");
    assert!(
        !media.contains("TRANSCODE_COMPLETED") && !media.contains("TWEET_IMAGE"),
        "{media}"
    );
    // Upload a small PNG through the multipart form.
    let png = std::env::temp_dir().join(format!("xads-ui-{:016x}.png", rand::random::<u64>()));
    std::fs::write(&png, tiny_png()).unwrap();
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(&png.display().to_string())
        .await
        .unwrap();
    c.find(Locator::Css("#mname"))
        .await
        .unwrap()
        .send_keys("Browser upload")
        .await
        .unwrap();
    click_to_next_page(&c, "#upload button").await;
    let flash = text_of(&c, ".flash").await;
    assert!(flash.contains("Uploaded"), "{flash}");
    assert!(text_of(&c, "#media").await.contains("Browser upload"));
    let _ = std::fs::remove_file(&png);
    audit(&c, axe, "06-media").await;

    // Reports: sync on demand, then the chart has points and the table has campaigns.
    c.goto(&format!("{base}/reports")).await.unwrap();
    // The sync runs in the background: the page follows it (meta refresh) until it is done.
    click_to_next_page(&c, "#sync-now").await;
    let status = text_of(&c, "#sync-status[data-state=done]").await;
    assert!(status.contains("Sync succeeded"), "{status}");
    let points = c
        .find_all(Locator::Css("#chart svg circle.point"))
        .await
        .unwrap();
    assert!(
        points.len() >= 2 * 7,
        "a point per day and series, got {}",
        points.len()
    );
    assert!(text_of(&c, "#by-campaign").await.contains("Campaign"));
    let csv = c
        .find(Locator::Css("#csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert!(csv.unwrap_or_default().starts_with("/reports.csv?"));
    audit(&c, axe, "07-reports").await;

    // Tokyo and Kuwait: the account's zone named, each currency in its own units, and the USD
    // of the bundled rate (the demo fetches no ECB rates) marked as estimated with its date.
    for (tab, zone, money, name) in [
        ("Tokyo Growth", "Asia/Tokyo", "¥", "07b-reports-jpy"),
        ("Kuwait Growth", "Asia/Kuwait", " KWD", "07c-reports-kwd"),
    ] {
        click_to_next_page(&c, &format!("p.tabs a[href*='account='][title='{tab}']")).await;
        click_to_next_page(&c, "#sync-now").await;
        let status = text_of(&c, "#sync-status[data-state=done]").await;
        assert!(status.contains("Sync succeeded"), "{status}");
        assert!(text_of(&c, "#timezone").await.contains(zone));
        let table = text_of(&c, "#by-campaign").await;
        assert!(table.contains(money), "{table}");
        assert!(table.contains("est."), "{table}");
        assert!(
            text_of(&c, "#fx-stale").await.contains(" of 20"),
            "the rate's date"
        );
        audit(&c, axe, name).await;
        let card = wait_css(&c, "#by-campaign").await;
        let png = card.screenshot().await.expect("table screenshot");
        std::fs::write(screenshots_dir().join(format!("{name}-table.png")), png).unwrap();
    }

    // The hourly view of the last days, on the account's clock.
    click_to_next_page(&c, "#hourly-view").await;
    let hours = c
        .find_all(Locator::Css("#chart svg circle.point"))
        .await
        .unwrap();
    assert!(
        hours.len() > 2 * 24,
        "a point per hour and chart, got {}",
        hours.len()
    );
    audit(&c, axe, "07d-reports-hourly").await;

    breakdown_and_levels(&c, axe, &base, &key, &world).await;

    // Experiments: create one (control + treatment on a seeded campaign), start it, read results.
    c.goto(&format!("{base}/experiments")).await.unwrap();
    wait_css(&c, "#experiments").await;
    c.find(Locator::Css("#exp-name"))
        .await
        .unwrap()
        .send_keys("Creative A/B")
        .await
        .unwrap();
    for (i, tweet) in tweets.iter().take(2).enumerate() {
        c.find(Locator::Css(&format!("#v{i}_tweet")))
            .await
            .unwrap()
            .send_keys(tweet)
            .await
            .unwrap();
    }
    audit(&c, axe, "08-experiments").await;
    // The slot length's field lines up with the fields beside it (no note under it).
    let aligned = c
        .execute(
            "const slot = document.querySelector('#exp-slot').getBoundingClientRect();\
             const beside = ['#exp-name', '#exp-campaign', '#objective', '#exp-metric', '#exp-mode',\
               '#exp-min-imp', '#exp-max-days']\
               .map(s => document.querySelector(s).getBoundingClientRect())\
               .filter(r => r.top < slot.bottom && r.bottom > slot.top);\
             return [beside.length, beside.filter(r => Math.round(r.bottom) !== Math.round(slot.bottom)).length];",
            vec![],
        )
        .await
        .unwrap();
    let [beside, off]: [u64; 2] = serde_json::from_value(aligned).unwrap();
    assert!(
        beside > 0 && off == 0,
        "the slot length's field ends on its row's line: {off} of {beside} fields beside it do not"
    );
    click_to_next_page(&c, "#create-experiment").await;
    wait_css(&c, "#results").await;
    let variants = text_of(&c, "#variants").await;
    assert!(
        variants.contains("Control") && variants.contains("Treatment"),
        "{variants}"
    );
    click_to_next_page(&c, "form[action$='/start'] button").await;
    assert!(text_of(&c, "#verdict").await.contains("Verdict"));
    let live = c.find_all(Locator::Css("#variants .b-ok")).await.unwrap();
    assert!(!live.is_empty(), "a variant is live once started");
    audit(&c, axe, "09-experiment-results").await;

    // Not enough data for a verdict yet, so the user picks the variant to keep.
    c.find(Locator::Css("#conclude select option[value='Treatment']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_to_next_page(&c, "#conclude button").await;
    assert!(text_of(&c, ".flash").await.contains("concluded"));
    assert!(
        c.find(Locator::Css("#conclude")).await.is_err(),
        "concluded once"
    );
    wait_css(&c, "#variants tbody tr").await;
    for row in c
        .find_all(Locator::Css("#variants tbody tr"))
        .await
        .unwrap()
    {
        let text = row.text().await.unwrap();
        let kept = text.contains("Treatment");
        assert_eq!(
            text.contains("live"),
            kept,
            "only the kept variant runs: {text}"
        );
    }
    audit(&c, axe, "10-experiment-concluded").await;

    // Sync every account from the tile: its sync health then has a last success.
    c.goto(&format!("{base}/integrations")).await.unwrap();
    click_to_next_page(&c, "form[action='/integrations/x_ads/sync'] button").await;
    let status = text_of(&c, "#sync-status[data-state=done]").await;
    assert!(
        status.contains("Sync succeeded") && status.contains("3 accounts"),
        "{status}"
    );
    let sync = text_of(&c, "#sync").await;
    assert!(!sync.contains("never"), "{sync}");
    audit(&c, axe, "11-integrations-synced").await;

    // Each account's own sync state on the tile.
    let accounts = text_of(&c, "#accounts").await;
    assert!(
        !accounts.contains("never"),
        "every account synced: {accounts}"
    );

    // Disconnect asks first, saying what happens to running experiments; then the note about
    // X's connected apps, shown once.
    click_to_next_page(&c, "#disconnect").await;
    assert!(
        text_of(&c, "#disconnect-confirm")
            .await
            .contains("history stays readable")
    );
    audit(&c, axe, "12-disconnect-confirm").await;
    click_to_next_page(&c, "#confirm-disconnect").await;
    wait_css(&c, "#x_ads[data-status=disconnected]").await;
    assert!(text_of(&c, ".flash").await.contains("connected apps"));
    c.refresh().await.unwrap();
    wait_css(&c, "#x_ads[data-status=disconnected]").await;
    assert!(
        c.find(Locator::Css(".flash")).await.is_err(),
        "the message came back on reload"
    );

    // The synced history stays readable, under a banner.
    c.goto(&format!("{base}/reports")).await.unwrap();
    assert!(
        text_of(&c, "#history-banner")
            .await
            .contains("no longer refreshed")
    );
    assert!(text_of(&c, "#by-campaign").await.contains("Campaign"));
    audit(&c, axe, "13-reports-after-disconnect").await;
}
