//! Paging the mirror while it is written (issue 15, item 5): positions are unique per tenant and
//! become visible in increasing order, so `cursor` paging never skips a row, even with upserts
//! from two instances (two pools on one database) racing the reader.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};
use xads::db::Db;
use xads::manage::paging;
use xads::store::entities::{self, Entity, Kind};
use xads::store::tenants;

const WRITERS_PER_INSTANCE: usize = 4;
const ROWS_PER_WRITER: usize = 25;

fn campaign(tenant: &str, w: usize, i: usize) -> Entity {
    Entity {
        kind: Kind::Campaign,
        account_id: "18ce54d4x5t".into(),
        id: format!("{tenant}-c{w}-{i}"),
        parent_id: None,
        dry_run: false,
        deleted: false,
        data: json!({"id": format!("{tenant}-c{w}-{i}")}),
    }
}

/// Gives the tenant the ad account the rows above live in (a list answers only for the tenant's
/// own accounts).
async fn own_account(db: &Db, tenant: &str) {
    sqlx::query(
        "INSERT INTO ad_accounts (tenant_id, id, name, timezone, currency, deleted, updated_at)
         VALUES ($1, '18ce54d4x5t', 'Paging', 'UTC', 'USD', 0, 0)",
    )
    .bind(tenant)
    .execute(db.pool())
    .await
    .unwrap();
}

/// The documents of a stored page, parsed.
fn documents(page: &entities::RawPage) -> Vec<Value> {
    serde_json::from_str(&format!("[{}]", std::str::from_utf8(&page.joined).unwrap())).unwrap()
}

/// Every id of the tenant's campaigns, paged `count` at a time through opaque cursors.
async fn page_all(
    db: &Db,
    tenant: &str,
    count: i64,
    done: &Mutex<HashSet<String>>,
) -> (Vec<String>, HashSet<String>) {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        // What had been written (committed) before this page was read.
        let before = done.lock().unwrap().clone();
        let after = paging::position(cursor.as_deref()).unwrap();
        let page = entities::list_raw(
            db,
            tenant,
            "18ce54d4x5t",
            Kind::Campaign,
            None,
            after,
            count,
        )
        .await
        .unwrap()
        .expect("the tenant's account");
        let items = documents(&page);
        for v in items {
            seen.push(v["id"].as_str().unwrap().to_owned());
        }
        match page.next {
            Some(n) => cursor = Some(paging::position_cursor(n)),
            None => return (seen, before),
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_on_two_instances_page_without_a_skipped_row() {
    for url in xads::testing::all_backend_urls().await {
        // Two instances: two pools on one database.
        let a = Db::connect(&url).await.unwrap();
        a.migrate(chrono::Utc::now()).await.unwrap();
        let b = Db::connect(&url).await.unwrap();
        let (t1, _) = tenants::create(&a, "One", chrono::Utc::now())
            .await
            .unwrap();
        let (t2, _) = tenants::create(&a, "Two", chrono::Utc::now())
            .await
            .unwrap();
        own_account(&a, &t1.id).await;
        own_account(&a, &t2.id).await;
        // Rows that exist before the reader starts.
        for i in 0..5 {
            entities::upsert(&a, &t1.id, &campaign(&t1.id, 99, i), chrono::Utc::now())
                .await
                .unwrap();
        }
        let done: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(
            (0..5).map(|i| format!("{}-c99-{i}", t1.id)).collect(),
        ));
        let mut writers = Vec::new();
        for (n, db) in [a.clone(), b.clone()].into_iter().enumerate() {
            for w in 0..WRITERS_PER_INSTANCE {
                let (db, done, t1, t2) = (db.clone(), done.clone(), t1.id.clone(), t2.id.clone());
                writers.push(tokio::spawn(async move {
                    let w = n * WRITERS_PER_INSTANCE + w;
                    for i in 0..ROWS_PER_WRITER {
                        let e = campaign(&t1, w, i);
                        entities::upsert(&db, &t1, &e, chrono::Utc::now())
                            .await
                            .unwrap();
                        done.lock().unwrap().insert(e.id.clone());
                        // An update of a row already there keeps its place.
                        entities::upsert(&db, &t1, &e, chrono::Utc::now())
                            .await
                            .unwrap();
                        // Another tenant writing at the same time.
                        entities::upsert(&db, &t2, &campaign(&t2, w, i), chrono::Utc::now())
                            .await
                            .unwrap();
                    }
                }));
            }
        }
        // Readers on both instances page while the writers run, 2 at a time.
        let mut rounds = 0;
        while writers.iter().any(|w| !w.is_finished()) || rounds < 2 {
            for db in [&a, &b] {
                let (seen, before) = page_all(db, &t1.id, 2, &done).await;
                let unique: HashSet<&String> = seen.iter().collect();
                assert_eq!(unique.len(), seen.len(), "no row twice ({url})");
                let skipped: Vec<&String> =
                    before.iter().filter(|id| !unique.contains(id)).collect();
                assert!(
                    skipped.is_empty(),
                    "rows committed before the last page was read but never paged: {skipped:?} ({url})"
                );
            }
            rounds += 1;
        }
        for w in writers {
            w.await.unwrap();
        }
        let total = 5 + 2 * WRITERS_PER_INSTANCE * ROWS_PER_WRITER;
        let (seen, _) = page_all(&b, &t1.id, 7, &done).await;
        assert_eq!(seen.len(), total, "{url}");
        // Positions are the tenant's own: unique, and not moved by the other tenant's writes
        // (nor by updates), so they say nothing of another tenant's volume.
        let seqs: Vec<i64> =
            sqlx::query_scalar("SELECT seq FROM entities WHERE tenant_id = $1 ORDER BY seq")
                .bind(&t1.id)
                .fetch_all(a.pool())
                .await
                .unwrap();
        assert_eq!(seqs.len(), total);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "unique ({url})");
        assert!(*seqs.last().unwrap() <= 2 * total as i64, "{url}: {seqs:?}");
        a.close().await;
        b.close().await;
    }
}

#[tokio::test]
async fn a_row_back_from_deleted_moves_to_the_end_where_a_reader_still_finds_it() {
    for db in xads::testing::all_backends().await {
        let (t, _) = tenants::create(&db, "One", chrono::Utc::now())
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let mut first = campaign(&t.id, 0, 0);
        entities::upsert(&db, &t.id, &first, now).await.unwrap();
        first.deleted = true;
        entities::upsert(&db, &t.id, &first, now).await.unwrap();
        entities::upsert(&db, &t.id, &campaign(&t.id, 0, 1), now)
            .await
            .unwrap();
        let list =
            |after| entities::list_raw(&db, &t.id, "18ce54d4x5t", Kind::Campaign, None, after, 1);
        // Not the tenant's account (yet): no page, though rows exist under that id.
        assert_eq!(list(0).await.unwrap(), None);
        own_account(&db, &t.id).await;
        let page = list(0).await.unwrap().unwrap();
        let docs = documents(&page);
        assert_eq!(docs.len(), 1, "{page:?}");
        assert!(
            docs[0]["id"].as_str().unwrap().ends_with("c0-1"),
            "{page:?}"
        );
        assert!(page.next.is_none());
        // A reader holding the cursor after c0-1 sees c0-0 come back after it.
        let pos: i64 = sqlx::query_scalar("SELECT seq FROM entities WHERE id = $1")
            .bind(format!("{}-c0-1", t.id))
            .fetch_one(db.pool())
            .await
            .unwrap();
        first.deleted = false;
        entities::upsert(&db, &t.id, &first, now).await.unwrap();
        let page = list(pos).await.unwrap().unwrap();
        let docs = documents(&page);
        assert_eq!(docs.len(), 1);
        assert!(
            docs[0]["id"].as_str().unwrap().ends_with("c0-0"),
            "{page:?}"
        );
        // Past the last row: the account's empty page, not "no such account".
        assert_eq!(
            list(i64::MAX / 2).await.unwrap(),
            Some(entities::RawPage::default())
        );
        // An account X no longer lists answers as unknown.
        sqlx::query("UPDATE ad_accounts SET deleted = 1 WHERE tenant_id = $1")
            .bind(&t.id)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(list(0).await.unwrap(), None);
    }
}

/// Follows `next_cursor` from the first page of `path` (`count` per page) to the end.
async fn pages(ctx: &crate::helpers::AccountCtx, path: &str, count: u32) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut cursor = String::new();
    let (mut all, mut n) = (Vec::new(), 0);
    loop {
        let (status, page) = ctx
            .app
            .get(
                &ctx.key,
                &format!("{path}{sep}count={count}&cursor={cursor}"),
            )
            .await;
        assert_eq!(status, 200, "{path}: {page}");
        let data = page["data"].as_array().unwrap();
        assert!(
            data.len() <= count as usize,
            "{path}: {} > {count}",
            data.len()
        );
        all.extend(data.iter().cloned());
        n += 1;
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(!data.is_empty(), "{path}: an empty page with a next cursor");
                cursor = c.to_owned();
            }
            None => return (all, n),
        }
    }
}

#[tokio::test]
async fn every_list_honours_count_and_cursor() {
    for url in xads::testing::all_backend_urls().await {
        lists_page(crate::helpers::AccountCtx::new(&url, false).await).await;
    }
}

async fn lists_page(ctx: crate::helpers::AccountCtx) {
    // Three experiments (dry-run) on a new campaign, so their list has more than a page.
    let (status, c) = ctx
        .send(
            Method::POST,
            "campaigns",
            Some(json!({"name": "Paging home", "funding_instrument_id": ctx.fi})),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    for i in 0..3 {
        let variants: Vec<Value> = (0..2)
            .map(|v| {
                json!({"name": format!("V{v}"), "control": v == 0, "tweet_id": ctx.tweets[v],
                "line_item": {"objective": "ENGAGEMENTS", "product_type": "PROMOTED_TWEETS",
                    "placements": ["ALL_ON_TWITTER"], "bid_amount_local_micro": 1_000_000,
                    "daily_budget_amount_local_micro": 5_000_000}})
            })
            .collect();
        let (status, e) = ctx
            .send(
                Method::POST,
                "experiments",
                Some(json!({"name": format!("Test {i}"), "campaign_id": c["id"],
                    "primary_metric": "ctr", "schedule": {"mode": "concurrent"},
                    "stop": {"min_impressions": 1000, "max_days": 14}, "variants": variants})),
            )
            .await;
        assert_eq!(status, 201, "{e}");
    }
    // The tenant's own EUR rates beside the bundled ones, one on a bundled rate's date too.
    let (_, bundled) = ctx.app.get(&ctx.key, "/api/v1/fx_rates?currency=EUR").await;
    let mut rates: Vec<Value> = (1..=5)
        .map(|d| json!({"date": format!("2024-03-{d:02}"), "currency": "EUR", "usd_per_unit": "1.08"}))
        .collect();
    rates.push(
        json!({"date": bundled["data"][0]["date"], "currency": "EUR", "usd_per_unit": "1.1"}),
    );
    let (status, body) = ctx
        .app
        .send(
            Method::POST,
            &ctx.key,
            "/api/v1/fx_rates",
            Some(Value::Array(rates)),
        )
        .await;
    assert!(status < 300, "{body}");
    let account = |rest: &str| ctx.path(rest);
    for kind in ["campaigns", "line_items", "promoted_tweets"] {
        let (status, _) = ctx
            .app
            .get(&ctx.key, &account(&format!("{kind}?refresh=true")))
            .await;
        assert_eq!(status, 200, "{kind}: the mirror filled from X");
    }
    for (path, count) in [
        (account("campaigns"), 2),
        (account("line_items"), 2),
        (account("promoted_tweets"), 2),
        (account("media"), 2),
        (account("experiments"), 2),
        ("/api/v1/x_ads/accounts".to_owned(), 1),
        ("/api/v1/fx_rates?currency=EUR".to_owned(), 3),
    ] {
        let (all, _) = pages(&ctx, &path, 1000).await;
        assert!(
            all.len() > count as usize,
            "{path}: only {} entries",
            all.len()
        );
        let (paged, n) = pages(&ctx, &path, count).await;
        assert_eq!(
            paged, all,
            "{path}: the pages add up to the whole list, in order"
        );
        assert_eq!(n, all.len().div_ceil(count as usize), "{path}");
        // A cursor we did not write, and counts out of range: 422 on the parameter.
        let sep = if path.contains('?') { '&' } else { '?' };
        for (query, field) in [
            ("cursor=17", "cursor"),
            ("count=0", "count"),
            ("count=1001", "count"),
        ] {
            let (status, body) = ctx.app.get(&ctx.key, &format!("{path}{sep}{query}")).await;
            assert_eq!(
                (status, body["error"]["field"].as_str()),
                (422, Some(field)),
                "{path}?{query}: {body}"
            );
        }
    }
}

/// The mirror's list pages are cached per instance under the tenant's mirror version
/// (`entities::PageCache`): with two instances on one database, every mirror write the other
/// instance commits — a create through its API, marks of entities X no longer lists, a new list
/// of ad accounts — shows on the next read of a page the reading instance had cached, as a fresh
/// instance reads it; a change that moves no version (a raw update behind the store's back)
/// does not, so the pages are indeed cached; two tenants with the same account id never see each
/// other's; and pages of other sizes are their own.
#[tokio::test]
async fn cached_list_pages_follow_every_mirror_write_of_either_instance_and_stay_per_tenant() {
    use crate::helpers::{AccountCtx, TestApp};
    use xads::store::connections::{self, AdAccount};

    let now = chrono::Utc::now;
    let ids_of = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for url in xads::testing::all_backend_urls().await {
        // The writer: a tenant connected (dry-run) on instance A; the reader: instance B.
        let ctx = AccountCtx::new(&url, false).await;
        let reader = TestApp::spawn(&url, Default::default()).await;
        let db = &ctx.app.state.db;
        let one = tenants::by_api_key(db, &ctx.key).await.unwrap().unwrap().id;
        let key2 = reader.tenant("Two").await;
        let two = tenants::by_api_key(db, &key2).await.unwrap().unwrap().id;
        let mine = AdAccount {
            id: ctx.account.clone(),
            name: "Same id".into(),
            timezone: "UTC".into(),
            currency: Some("USD".into()),
            approval_status: None,
        };
        connections::replace_ad_accounts(db, &two, std::slice::from_ref(&mine), now())
            .await
            .unwrap();
        let mut theirs = campaign(&two, 0, 0);
        theirs.account_id = ctx.account.clone();
        entities::upsert(db, &two, &theirs, now()).await.unwrap();
        let list = ctx.path("campaigns");
        // What an instance with nothing cached answers now.
        let fresh = |path: String| {
            let (url, key) = (url.clone(), ctx.key.clone());
            async move {
                let c = TestApp::spawn(&url, Default::default()).await;
                c.get(&key, &path).await
            }
        };
        // A reads X's campaigns into the mirror.
        let (status, refreshed) = ctx.app.get(&ctx.key, &format!("{list}?refresh=true")).await;
        assert_eq!(status, 200, "{url}: {refreshed}");
        let (status, first) = reader.get(&ctx.key, &list).await;
        assert_eq!(status, 200, "{url}: {first}");
        assert_eq!(first, refreshed, "{url}");
        // Sent as its parts, with its length, like every answer.
        let raw = reader
            .http
            .get(format!("{}{list}", reader.base))
            .bearer_auth(&ctx.key)
            .send()
            .await
            .unwrap();
        assert_eq!(raw.headers()["content-type"], "application/json");
        let length = raw.headers()["content-length"].to_str().unwrap().to_owned();
        let bytes = raw.bytes().await.unwrap();
        assert_eq!(length, bytes.len().to_string(), "{url}");
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), first);
        let seeded = ids_of(&first);
        assert!(seeded.len() >= 3, "{url}: the fake's campaigns: {first}");
        assert_eq!(
            ids_of(&reader.get(&key2, &list).await.1),
            [theirs.id.clone()],
            "{url}"
        );
        let (_, two_first) = reader.get(&ctx.key, &format!("{list}?count=2")).await;
        assert_eq!(ids_of(&two_first), seeded[..2], "{url}: its own size");

        // Behind the store's back (no version moves): the cached page stays, a fresh instance
        // sees the change.
        sqlx::query("UPDATE entities SET data = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(json!({"id": seeded[0], "name": "Renamed behind"}).to_string())
            .bind(&one)
            .bind(&seeded[0])
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(reader.get(&ctx.key, &list).await.1, first, "{url}: cached");
        assert_eq!(
            fresh(list.clone()).await.1["data"][0]["name"],
            "Renamed behind"
        );

        // A create through A's API: B's next read shows it, and the rename with it.
        let (status, made) = ctx
            .send(
                Method::POST,
                "campaigns",
                Some(json!({"name": "Made on A", "funding_instrument_id": ctx.fi})),
            )
            .await;
        assert_eq!(status, 201, "{url}: {made}");
        let (_, after_create) = reader.get(&ctx.key, &list).await;
        let mut expected = seeded.clone();
        expected.push(made["id"].as_str().unwrap().to_owned());
        assert_eq!(ids_of(&after_create), expected, "{url}");
        assert_eq!(after_create["data"][0]["name"], "Renamed behind", "{url}");
        assert_eq!(after_create, fresh(list.clone()).await.1, "{url}");
        // The page of another size is its own entry, and it too is current.
        let (_, two_now) = reader.get(&ctx.key, &format!("{list}?count=2")).await;
        assert_eq!(two_now["data"][0]["name"], "Renamed behind", "{url}");

        // X no longer lists all but the first seeded campaign (a mirror refresh's marks, on A).
        entities::mark_missing_deleted(db, &one, &ctx.account, Kind::Campaign, &seeded[..1])
            .await
            .unwrap();
        let (_, after_marks) = reader.get(&ctx.key, &list).await;
        assert_eq!(
            ids_of(&after_marks),
            [seeded[0].clone(), expected.last().unwrap().clone()],
            "{url}: the dry-run one stays (X never knew it)"
        );

        // The other tenant's page, of the same account id, never moved.
        assert_eq!(
            ids_of(&reader.get(&key2, &list).await.1),
            [theirs.id.clone()],
            "{url}"
        );

        // The account is no longer the tenant's (a new list of ad accounts, on A): unknown.
        let mut other = mine.clone();
        other.id = "other".into();
        connections::replace_ad_accounts(db, &one, &[other], now())
            .await
            .unwrap();
        let (status, gone) = reader.get(&ctx.key, &list).await;
        assert_eq!(status, 404, "{url}: {gone}");
        assert_eq!(
            ids_of(&reader.get(&key2, &list).await.1),
            [theirs.id.clone()],
            "{url}"
        );
    }
}
