//! Storage on both backends: migrations are idempotent, repositories behave the same.

use xads::store::tenants;
use xads::testing::all_backends;

#[tokio::test]
async fn migrations_apply_once_and_again_is_a_no_op() {
    for db in all_backends().await {
        // `all_backends` already migrated; a second run applies nothing and does not fail.
        assert_eq!(
            db.migrate(chrono::Utc::now()).await.unwrap(),
            Vec::<i64>::new(),
            "{:?}",
            db.backend()
        );
        let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!(tables >= 1);
    }
}

#[tokio::test]
async fn concurrent_migrations_do_not_conflict() {
    // Two instances starting at once against a fresh database must both succeed.
    if let Some(db) = xads::testing::postgres_db().await {
        let (a, b) = tokio::join!(
            db.migrate(chrono::Utc::now()),
            db.migrate(chrono::Utc::now())
        );
        assert!(a.is_ok() && b.is_ok());
    }
}

/// Connections are not pinged before every use any more (`Db::connect`), only after sitting
/// idle for `IDLE_BEFORE_PING`: connections the database dropped while idle (a restart, a
/// failover) are still replaced before a query runs on them.
#[tokio::test]
async fn connections_dropped_by_the_database_while_idle_are_replaced_before_use() {
    let Some(url) = xads::testing::postgres_schema_url().await else {
        return;
    };
    let db = xads::db::Db::connect(&url).await.unwrap();
    let admin = xads::db::Db::connect(&url).await.unwrap();
    // Three connections in the pool at once, then idle.
    let mut held = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..3 {
        let mut conn = db.pool().acquire().await.unwrap();
        let pid: i64 = sqlx::query_scalar("SELECT CAST(pg_backend_pid() AS BIGINT)")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        pids.push(pid);
        held.push(conn);
    }
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for pid in &pids {
        sqlx::query("SELECT pg_terminate_backend(CAST($1 AS INTEGER))")
            .bind(pid)
            .execute(admin.pool())
            .await
            .unwrap();
    }
    tokio::time::sleep(xads::db::IDLE_BEFORE_PING + std::time::Duration::from_millis(300)).await;
    // Every query succeeds, on a fresh connection.
    let (a, b, c) = tokio::join!(
        sqlx::query_scalar::<_, i64>("SELECT CAST(pg_backend_pid() AS BIGINT)")
            .fetch_one(db.pool()),
        sqlx::query_scalar::<_, i64>("SELECT CAST(pg_backend_pid() AS BIGINT)")
            .fetch_one(db.pool()),
        sqlx::query_scalar::<_, i64>("SELECT CAST(pg_backend_pid() AS BIGINT)")
            .fetch_one(db.pool()),
    );
    for pid in [a.unwrap(), b.unwrap(), c.unwrap()] {
        assert!(
            !pids.contains(&pid),
            "a dropped connection was used: {pid} in {pids:?}"
        );
    }
    db.close().await;
    admin.close().await;
}

#[tokio::test]
async fn tenant_keys_are_stored_hashed_and_resolve_to_their_tenant() {
    for db in all_backends().await {
        let (alpha, alpha_key) = tenants::create(&db, "Alpha Growth", chrono::Utc::now())
            .await
            .unwrap();
        let (beta, beta_key) = tenants::create(&db, "Beta", chrono::Utc::now())
            .await
            .unwrap();
        assert!(alpha_key.0.starts_with("xads_") && alpha_key.0.len() > 40);
        assert_eq!(
            tenants::by_api_key(&db, &alpha_key.0).await.unwrap(),
            Some(alpha.clone())
        );
        assert_eq!(
            tenants::by_api_key(&db, &beta_key.0).await.unwrap(),
            Some(beta)
        );
        assert_eq!(tenants::by_api_key(&db, "xads_wrong").await.unwrap(), None);
        // The key itself is nowhere in the database.
        let hashes: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(hashes.len(), 2);
        assert!(hashes.iter().all(|h| !h.contains(&alpha_key.0[5..])));
        assert_eq!(tenants::get(&db, &alpha.id).await.unwrap(), Some(alpha));
    }
}

#[tokio::test]
async fn bad_tenant_names_change_nothing() {
    for db in all_backends().await {
        for bad in ["", "   ", &"x".repeat(101)] {
            assert!(tenants::create(&db, bad, chrono::Utc::now()).await.is_err());
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}

#[tokio::test]
async fn idempotency_keys_live_24_hours_then_start_afresh() {
    use xads::store::idempotency::{self, Claim};
    let lease = std::time::Duration::from_secs(60);
    for db in all_backends().await {
        let (t, _) = tenants::create(&db, "Keys", chrono::Utc::now())
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let Claim::Execute(holder) = idempotency::claim(&db, &t.id, "k", "fp1", now, lease)
            .await
            .unwrap()
        else {
            panic!("a new key is executed")
        };
        assert!(
            idempotency::finish(&db, &t.id, "k", &holder, 201, "{\"id\":\"a\"}")
                .await
                .unwrap()
        );
        let later = now + chrono::Duration::hours(23);
        assert_eq!(
            idempotency::claim(&db, &t.id, "k", "fp1", later, lease)
                .await
                .unwrap(),
            Claim::Replay {
                status: 201,
                body: "{\"id\":\"a\"}".into()
            }
        );
        assert_eq!(
            idempotency::claim(&db, &t.id, "k", "fp2", later, lease)
                .await
                .unwrap(),
            Claim::Mismatch
        );
        // Another tenant's identical key is its own.
        let (other, _) = tenants::create(&db, "Other", chrono::Utc::now())
            .await
            .unwrap();
        assert!(matches!(
            idempotency::claim(&db, &other.id, "k", "fp2", later, lease)
                .await
                .unwrap(),
            Claim::Execute(_)
        ));
        let expired = now + chrono::Duration::hours(25);
        // Only the first key is past its 24 h (the other tenant's was made 23 h later).
        assert_eq!(idempotency::sweep(&db, expired).await.unwrap(), 1);
        assert!(matches!(
            idempotency::claim(&db, &t.id, "k", "fp2", expired, lease)
                .await
                .unwrap(),
            Claim::Execute(_)
        ));
    }
}

/// Only the holder of a key in flight renews, finishes or releases it; a live holder's key is in
/// flight for everyone else, and a lapsed one is taken over by exactly one claimant.
#[tokio::test]
async fn an_idempotency_key_is_finished_or_released_only_by_its_holder() {
    use xads::store::idempotency::{self, Claim};
    let lease = std::time::Duration::from_secs(60);
    for db in all_backends().await {
        let (t, _) = tenants::create(&db, "Holders", chrono::Utc::now())
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let Claim::Execute(first) = idempotency::claim(&db, &t.id, "k", "fp", now, lease)
            .await
            .unwrap()
        else {
            panic!("a new key is executed")
        };
        // While the first holder lives, the same request elsewhere is in flight.
        assert_eq!(
            idempotency::claim(&db, &t.id, "k", "fp", now, lease)
                .await
                .unwrap(),
            Claim::InFlight
        );
        // Its lease lapses (the holder died: it stopped renewing). Played here by renewing it
        // for nothing; the next claim takes it over, and only one of two racing claims does.
        assert!(
            idempotency::renew(&db, &t.id, "k", &first, std::time::Duration::ZERO)
                .await
                .unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (a, b) = tokio::join!(
            idempotency::claim(&db, &t.id, "k", "fp", now, lease),
            idempotency::claim(&db, &t.id, "k", "fp", now, lease)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let second = match (a, b) {
            (Claim::Execute(h), Claim::InFlight) | (Claim::InFlight, Claim::Execute(h)) => h,
            other => panic!("exactly one takes a lapsed key over: {other:?}"),
        };
        assert_ne!(first, second);
        // The first holder woke up: it can neither renew, nor store its answer, nor release.
        for refused in [
            idempotency::renew(&db, &t.id, "k", &first, lease)
                .await
                .unwrap(),
            idempotency::finish(&db, &t.id, "k", &first, 201, "{\"id\":\"first\"}")
                .await
                .unwrap(),
            idempotency::release(&db, &t.id, "k", &first).await.unwrap(),
        ] {
            assert!(!refused, "a former holder is refused");
        }
        assert_eq!(
            idempotency::claim(&db, &t.id, "k", "fp", now, lease)
                .await
                .unwrap(),
            Claim::InFlight,
            "still the second holder's"
        );
        // The holder finishes; its answer is the one replayed.
        assert!(
            idempotency::finish(&db, &t.id, "k", &second, 201, "{\"id\":\"second\"}")
                .await
                .unwrap()
        );
        assert!(
            !idempotency::release(&db, &t.id, "k", &second)
                .await
                .unwrap(),
            "a finished key is not released"
        );
        assert_eq!(
            idempotency::claim(&db, &t.id, "k", "fp", now, lease)
                .await
                .unwrap(),
            Claim::Replay {
                status: 201,
                body: "{\"id\":\"second\"}".into()
            }
        );
    }
}

#[tokio::test]
async fn stats_hourly_has_exactly_the_columns_the_metric_table_generates() {
    // The store's SQL is generated from xads_client's metric table; the migrations are not, so
    // this holds them together: the same columns, no more, on both backends.
    let mut want: Vec<String> = xads::store::stats::column_list()
        .split(", ")
        .map(str::to_owned)
        .collect();
    want.extend(["tenant_id".to_owned(), "fetched_at".to_owned()]);
    want.sort();
    for db in all_backends().await {
        let sql = match db.backend() {
            xads::db::Backend::Sqlite => "SELECT name FROM pragma_table_info('stats_hourly')",
            xads::db::Backend::Postgres => {
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = 'stats_hourly' AND table_schema = current_schema()"
            }
        };
        let mut have: Vec<String> = sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap();
        have.sort();
        assert_eq!(have, want, "{:?}", db.backend());
    }
}

/// `stats::upsert` (PostgreSQL: the first write, whose keys are all new, by `COPY` straight into
/// the table, the later ones by `COPY` into a staging table, then one `INSERT … ON CONFLICT`;
/// SQLite: multi-row upserts) keeps one row per key, the last one given winning, round-trips
/// every value (also ids with characters that `COPY`'s text format escapes, and no conversion),
/// and writing the same rows again changes nothing.
#[tokio::test]
async fn stats_upsert_keeps_one_row_per_key_the_last_winning_on_both_backends() {
    use chrono::{Duration, TimeZone, Utc};
    use xads::store::stats::{self, Fx, StatRow};
    use xads_client::vocab::{COLUMNS, Placement, StatsEntityType};

    let hour = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let row = |id: &str, h: i64, v: i64, fx: bool| StatRow {
        account_id: "acct\\1".into(),
        entity: StatsEntityType::Campaign,
        entity_id: id.into(),
        hour: hour + Duration::hours(h),
        placement: Placement::AllOnTwitter,
        values: std::array::from_fn(|i| Some(v * 10 + i as i64)),
        currency: "EUR".into(),
        fx: fx.then(|| Fx {
            rate: "1.0854".parse().unwrap(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
            source: "csv\tx".into(),
            spend_usd: "12.345678".parse().unwrap(),
        }),
    };
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let mut rows = vec![
            row("c\t1", 0, 1, true),
            row("c\n2", 0, 2, false),
            row("c\t1", 1, 3, true),
            // The same key as the first row: it replaces it.
            row("c\t1", 0, 4, false),
        ];
        // Installs not asked: stored NULL, read back unknown (not 0).
        rows[1].values[stats::INSTALLS] = None;
        assert_eq!(
            stats::upsert(&db, &tenant.id, &rows, Utc::now())
                .await
                .unwrap(),
            4
        );
        let read = |db: xads::db::Db, tenant: String| async move {
            stats::query(
                &db,
                &tenant,
                "acct\\1",
                StatsEntityType::Campaign,
                &[],
                hour,
                hour + Duration::hours(2),
            )
            .await
            .unwrap()
        };
        let stored = read(db.clone(), tenant.id.clone()).await;
        assert_eq!(
            stored,
            vec![rows[3].clone(), rows[2].clone(), rows[1].clone()],
            "{:?}",
            db.backend()
        );
        assert_eq!(
            stored[0].values[COLUMNS.len() - 1],
            Some(40 + COLUMNS.len() as i64 - 1)
        );
        // Re-ingesting the same rows is idempotent; new values replace the old ones in place.
        stats::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        assert_eq!(read(db.clone(), tenant.id.clone()).await, stored);
        let newer = vec![row("c\n2", 0, 7, true)];
        stats::upsert(&db, &tenant.id, &newer, Utc::now())
            .await
            .unwrap();
        let after = read(db.clone(), tenant.id.clone()).await;
        assert_eq!(after.len(), 3);
        assert_eq!(after[2], newer[0]);
        assert_eq!(stats::count(&db, &tenant.id, "acct\\1").await.unwrap(), 3);
    }
}

/// PostgreSQL copies rows none of whose keys is stored straight into `stats_hourly`. When
/// another writer commits one of those keys after the check, the copy fails on it, and the
/// write still lands whole, as an upsert (the last writer wins, as always).
#[tokio::test]
async fn new_rows_copied_in_still_land_when_another_writer_stores_one_of_their_keys_first() {
    use chrono::{Duration, TimeZone, Utc};
    use xads::store::stats::{self, StatRow, column_list};
    use xads_client::vocab::{Placement, StatsEntityType};

    let Some(db) = xads::testing::postgres_db().await else {
        return;
    };
    let pool = db.pg_pool().unwrap().clone();
    let hour = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let row = |h: i64, v: i64| StatRow {
        account_id: "acct".into(),
        entity: StatsEntityType::Campaign,
        entity_id: "c1".into(),
        hour: hour + Duration::hours(h),
        placement: Placement::AllOnTwitter,
        values: std::array::from_fn(|i| Some(v * 100 + i as i64)),
        currency: "EUR".into(),
        fx: None,
    };
    let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
    let (other, _) = tenants::create(&db, "O", Utc::now()).await.unwrap();
    // The other writer's row for hour 1, first stored under another tenant to copy from.
    stats::upsert(&db, &other.id, &[row(1, 9)], Utc::now())
        .await
        .unwrap();
    let mut writer = pool.begin().await.unwrap();
    let writer_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *writer)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO stats_hourly (tenant_id, fetched_at, {cols})
         SELECT $1, fetched_at, {cols} FROM stats_hourly WHERE tenant_id = $2",
        cols = column_list()
    )))
    .bind(&tenant.id)
    .bind(&other.id)
    .execute(&mut *writer)
    .await
    .unwrap();
    // Ours: hours 0 to 2. The check cannot see the uncommitted row, so the copy starts and
    // waits on its key.
    let ours: Vec<StatRow> = (0..3).map(|h| row(h, h + 1)).collect();
    let write = tokio::spawn({
        let (db, tenant, ours) = (db.clone(), tenant.id.clone(), ours.clone());
        async move { stats::upsert(&db, &tenant, &ours, Utc::now()).await }
    });
    let waiting = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity a
                    WHERE $1 = ANY (pg_blocking_pids(a.pid)) AND a.query LIKE 'COPY stats_hourly %')";
    let mut copying = false;
    for _ in 0..800 {
        copying = sqlx::query_scalar(waiting)
            .bind(writer_pid)
            .fetch_one(&pool)
            .await
            .unwrap();
        if copying {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(copying, "the write never copied the rows in");
    writer.commit().await.unwrap();
    assert_eq!(write.await.unwrap().unwrap(), 3);
    let stored = stats::query(
        &db,
        &tenant.id,
        "acct",
        StatsEntityType::Campaign,
        &[],
        hour,
        hour + Duration::hours(3),
    )
    .await
    .unwrap();
    assert_eq!(stored, ours);
}

/// The check that lets new rows be copied in seeks each entity in the primary key, also in
/// the generic plan PostgreSQL keeps for a prepared statement after a few runs.
#[tokio::test]
async fn the_check_for_stored_keys_seeks_each_entity_in_the_generic_plan() {
    let Some(db) = xads::testing::postgres_db().await else {
        return;
    };
    let mut tx = db.pg_pool().unwrap().begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL plan_cache_mode = force_generic_plan;
         SET LOCAL enable_seqscan = off;
         SET LOCAL enable_bitmapscan = off;
         PREPARE stored_probe (text, text[], text[], text[], bigint, bigint) AS {}",
        xads::store::stats::stored_probe_sql("stats_hourly")
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN EXECUTE stored_probe ('t', '{a,a}', '{CAMPAIGN,CAMPAIGN}', '{c1,c2}', 0, 1)",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    sqlx::raw_sql("DEALLOCATE stored_probe")
        .execute(&mut *tx)
        .await
        .unwrap();
    // The primary key's scan is conditioned on the entity and the hours, not filtered.
    assert!(
        plan.iter().any(|line| line.contains("Index Cond:")
            && line.contains("entity_id = ")
            && line.contains("hour >= ")),
        "{}",
        plan.join("\n")
    );
}

/// Rows for a tenant that does not exist are refused whole, new hourly rows (which PostgreSQL
/// copies in) and segment rows (always upserted), on both backends: on PostgreSQL these tables
/// have no foreign key, and the tenant is checked by the write's `stats_versions` row.
#[tokio::test]
async fn stats_rows_of_a_tenant_that_does_not_exist_are_refused_whole_on_both_backends() {
    use chrono::{TimeZone, Utc};
    use xads::store::segments::{self, SegmentRow};
    use xads::store::stats::{self, StatRow};
    use xads_client::vocab::{Placement, SegmentationType, StatsEntityType};

    let row = |id: &str| StatRow {
        account_id: "acct".into(),
        entity: StatsEntityType::Campaign,
        entity_id: id.into(),
        hour: Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap(),
        placement: Placement::AllOnTwitter,
        values: stats::ZERO,
        currency: "EUR".into(),
        fx: None,
    };
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        stats::upsert(&db, &tenant.id, &[row("c1")], Utc::now())
            .await
            .unwrap();
        let refused = stats::upsert(&db, "ten_missing", &[row("c1"), row("c2")], Utc::now()).await;
        assert!(refused.is_err(), "{:?}: {refused:?}", db.backend());
        // Segment rows always go the upsert's way.
        let segment = SegmentRow {
            segment_type: SegmentationType::Age,
            segment_name: "Age 25 to 34".into(),
            segment_value: "AGE_25_TO_34".into(),
            row: row("c1"),
        };
        let refused = segments::upsert(&db, "ten_missing", &[segment], Utc::now()).await;
        assert!(refused.is_err(), "{:?}: {refused:?}", db.backend());
        for table in ["stats_hourly", "stats_segments"] {
            let held: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT tenant_id FROM {table}"
            )))
            .fetch_all(db.pool())
            .await
            .unwrap();
            assert!(held.iter().all(|t| *t == tenant.id), "{table}: {held:?}");
        }
    }
}

/// A row fetched again with the same values is left as it is (its `fetched_at` stays), so an
/// hourly sync's re-fetched hours write nothing; any changed value, a conversion that arrives
/// and a value that becomes unknown each rewrite the row.
#[tokio::test]
async fn stats_upsert_rewrites_a_row_only_when_a_value_changed_on_both_backends() {
    use chrono::{Duration, TimeZone, Utc};
    use xads::store::stats::{self, Fx, StatRow};
    use xads_client::vocab::{COLUMNS, Placement, StatsEntityType};

    let hour = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let row = |id: &str| StatRow {
        account_id: "acct".into(),
        entity: StatsEntityType::Campaign,
        entity_id: id.into(),
        hour,
        placement: Placement::AllOnTwitter,
        values: std::array::from_fn(|i| Some(i as i64 + 1)),
        currency: "EUR".into(),
        fx: None,
    };
    let at = |minute: i64| hour + Duration::hours(1) + Duration::minutes(minute);
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let fetched = || {
            let (db, tenant) = (db.clone(), tenant.id.clone());
            async move {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT entity_id, fetched_at FROM stats_hourly
                     WHERE tenant_id = $1 ORDER BY entity_id",
                )
                .bind(tenant)
                .fetch_all(db.pool())
                .await
                .unwrap();
                rows.into_iter()
                    .map(|(id, ms)| (id, ms - at(0).timestamp_millis()))
                    .collect::<Vec<_>>()
            }
        };
        let mut rows = vec![row("a"), row("b"), row("c"), row("d")];
        stats::upsert(&db, &tenant.id, &rows, at(0)).await.unwrap();
        stats::upsert(&db, &tenant.id, &rows, at(1)).await.unwrap();
        let minute = 60_000;
        assert_eq!(
            fetched().await,
            [("a", 0), ("b", 0), ("c", 0), ("d", 0)].map(|(id, ms)| (id.to_owned(), ms)),
            "{:?}: the same values again rewrite nothing",
            db.backend()
        );
        // a: the last metric (money) revised; b: its conversion arrives; c: installs become
        // unknown; d: unchanged.
        rows[0].values[COLUMNS.len() - 1] = Some(99);
        rows[1].fx = Some(Fx {
            rate: "1.0854".parse().unwrap(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
            source: "csv".into(),
            spend_usd: "1.234567".parse().unwrap(),
        });
        rows[2].values[stats::INSTALLS] = None;
        stats::upsert(&db, &tenant.id, &rows, at(2)).await.unwrap();
        assert_eq!(
            fetched().await,
            [
                ("a", 2 * minute),
                ("b", 2 * minute),
                ("c", 2 * minute),
                ("d", 0)
            ]
            .map(|(id, ms)| (id.to_owned(), ms)),
            "{:?}",
            db.backend()
        );
        let stored = stats::query(
            &db,
            &tenant.id,
            "acct",
            StatsEntityType::Campaign,
            &[],
            hour,
            hour + Duration::hours(1),
        )
        .await
        .unwrap();
        assert_eq!(stored, rows, "{:?}", db.backend());
    }
}

/// Re-conversion walks a tenant's accounts in the currency and their windows (in
/// `stats_hourly`, one entity each), reading whole hours: accounts of hundreds of small windows,
/// a window that holds exactly one read, one whose first read's last hour is read again by the
/// next, an account in another currency between two in the currency, an account in the
/// currency with entity types in another, windows with only hours before the date. Every row of
/// the currency from the date on is converted, and nothing else. (Hours larger than a read, and
/// reads that end inside an hour: the segment test below.)
#[tokio::test]
async fn stats_reconvert_converts_every_window_of_its_tenant_currency_and_dates_only_on_both_backends()
 {
    use std::collections::BTreeMap;

    use chrono::{Duration, NaiveDate, TimeZone, Utc};
    use xads::store::stats::{self, RECONVERT_CHUNK, StatRow};
    use xads_client::vocab::{COLUMNS, Placement, StatsEntityType};

    let since = NaiveDate::from_ymd_opt(2026, 5, 2).unwrap();
    let since_hour = Utc.from_utc_datetime(&since.and_hms_opt(0, 0, 0).unwrap());
    let (campaign, line_item) = (StatsEntityType::Campaign, StatsEntityType::LineItem);
    // (account, entity type, ids, currency, hours from `since`): two placements per id.
    type Window = (
        &'static str,
        StatsEntityType,
        usize,
        &'static str,
        std::ops::Range<i64>,
    );
    // A window of stats_hourly is one entity (its primary key holds an entity's rows in hour
    // order): two rows an hour here. Hours of a window that a read ends inside are the segment
    // test's (below).
    let windows: [Window; 11] = [
        ("a1", campaign, 23, "JPY", -10..24),
        ("a1", line_item, 3, "JPY", -10..24),
        ("a2", campaign, 2, "EUR", -10..24),
        ("a3", campaign, 2, "JPY", -10..24),
        ("a3", line_item, 2, "EUR", -10..24),
        ("a4", campaign, 2, "JPY", -10..0),
        // 600 windows of one account.
        ("a5", line_item, 600, "JPY", -1..2),
        ("a6", campaign, 23, "JPY", 0..21),
        ("a6", campaign, 600, "JPY", 21..22),
        // 500 hours from the date: exactly one read of the entity.
        ("a7", campaign, 1, "JPY", -3..500),
        // 700 hours: the first read's last hour is read again by the next.
        ("a8", line_item, 1, "JPY", 0..700),
    ];
    const {
        assert!(2 * 500 == RECONVERT_CHUNK);
        assert!(2 * 700 > RECONVERT_CHUNK);
    };
    let rows = |windows: &[Window]| {
        let mut rows = Vec::new();
        for (account, entity, ids, currency, hours) in windows.iter().cloned() {
            for h in hours {
                for id in 0..ids {
                    for placement in [Placement::AllOnTwitter, Placement::PublisherNetwork] {
                        rows.push(StatRow {
                            account_id: account.into(),
                            entity,
                            entity_id: format!("{}{id}", entity.as_str()),
                            hour: since_hour + Duration::hours(h),
                            placement,
                            values: [Some(1_000_000); COLUMNS.len()],
                            currency: currency.into(),
                            fx: None,
                        });
                    }
                }
            }
        }
        rows
    };
    // Rows per (tenant, currency, from `since` on, conversion source).
    let expect = |tenant: &str, windows: &[Window], converted: bool| {
        let mut counts: BTreeMap<(String, String, i64, Option<String>), i64> = BTreeMap::new();
        for (_, _, ids, currency, hours) in windows.iter().cloned() {
            for h in hours {
                let after = h >= 0;
                let source = (converted && after && currency == "JPY").then(|| "csv".to_owned());
                let key = (
                    tenant.to_owned(),
                    currency.to_owned(),
                    i64::from(after),
                    source,
                );
                *counts.entry(key).or_default() += 2 * ids as i64;
            }
        }
        counts
    };
    let others = [windows[0].clone(), windows[2].clone()];
    let series = vec![(since, "0.0125".parse().unwrap(), "csv".to_owned())];
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let (other, _) = tenants::create(&db, "O", Utc::now()).await.unwrap();
        stats::upsert(&db, &tenant.id, &rows(&windows), Utc::now())
            .await
            .unwrap();
        stats::upsert(&db, &other.id, &rows(&others), Utc::now())
            .await
            .unwrap();

        let changed = stats::reconvert(&db, &tenant.id, "JPY", since, &series)
            .await
            .unwrap();
        let counts: Vec<(String, String, i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT tenant_id, currency,
                    CAST(CASE WHEN hour >= $1 THEN 1 ELSE 0 END AS BIGINT) AS after,
                    fx_source, COUNT(*)
             FROM stats_hourly GROUP BY tenant_id, currency, after, fx_source",
        )
        .bind(since_hour.timestamp_millis())
        .fetch_all(db.pool())
        .await
        .unwrap();
        let counts: BTreeMap<_, _> = counts
            .into_iter()
            .map(|(t, c, a, s, n)| ((t, c, a, s), n))
            .collect();
        let mut want = expect(&tenant.id, &windows, true);
        // The other tenant's rows of the same accounts stay as they were.
        want.extend(expect(&other.id, &others, false));
        assert_eq!(counts, want, "{:?}", db.backend());
        let due: i64 = want
            .iter()
            .filter(|((_, _, _, source), _)| source.is_some())
            .map(|(_, n)| n)
            .sum();
        assert_eq!(changed, due as u64, "{:?}", db.backend());
        let usd: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT spend_usd FROM stats_hourly WHERE tenant_id = $1 AND fx_source = 'csv'",
        )
        .bind(&tenant.id)
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(usd, [("0.012500".to_owned(),)], "{:?}", db.backend());
        // The same rates again change nothing.
        let again = stats::reconvert(&db, &tenant.id, "JPY", since, &series)
            .await
            .unwrap();
        assert_eq!(again, 0, "{:?}", db.backend());
    }
}

/// Segment rows' windows are an entity type and a segment type, with every entity's rows of an
/// hour together: two under one account and entity type, two under another entity type, each
/// converted from the date on, with reads that end inside an hour and hours larger than a read.
#[tokio::test]
async fn segment_reconvert_walks_every_segment_type_of_every_window_on_both_backends() {
    use chrono::{Duration, NaiveDate, TimeZone, Utc};
    use xads::store::segments::{self, SegmentRow};
    use xads::store::stats::StatRow;
    use xads_client::vocab::{COLUMNS, Placement, SegmentationType, StatsEntityType};

    let since = NaiveDate::from_ymd_opt(2026, 5, 2).unwrap();
    let since_hour = Utc.from_utc_datetime(&since.and_hms_opt(0, 0, 0).unwrap());
    // (entity type, segment type, segments at the date's first hour, segments at the others),
    // two entities each.
    let windows = [
        (StatsEntityType::Campaign, SegmentationType::Age, 400, 400),
        (StatsEntityType::Campaign, SegmentationType::Platforms, 3, 3),
        (StatsEntityType::LineItem, SegmentationType::Gender, 2, 2),
        // 400 rows at the date's first hour, then 1 200 an hour: the first read ends inside
        // the second hour, which, larger than a read, is then read alone, as is the third.
        (StatsEntityType::LineItem, SegmentationType::Age, 200, 600),
    ];
    let mut rows = Vec::new();
    for (entity, segment_type, at_since, elsewhere) in windows {
        for h in -2..3 {
            let segments = if h == 0 { at_since } else { elsewhere };
            for id in 0..2 {
                for s in 0..segments {
                    rows.push(SegmentRow {
                        segment_type,
                        segment_name: format!("s{s}"),
                        segment_value: s.to_string(),
                        row: StatRow {
                            account_id: "a1".into(),
                            entity,
                            entity_id: format!("e{id}"),
                            hour: since_hour + Duration::hours(h),
                            placement: Placement::AllOnTwitter,
                            values: [Some(1_000_000); COLUMNS.len()],
                            currency: "JPY".into(),
                            fx: None,
                        },
                    });
                }
            }
        }
    }
    // 800 rows an hour in the first window: reads of 1 000 end inside its hours.
    let due = rows.iter().filter(|r| r.row.hour >= since_hour).count() as u64;
    let series = vec![(since, "0.0125".parse().unwrap(), "csv".to_owned())];
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        segments::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        let changed = segments::reconvert(&db, &tenant.id, "JPY", since, &series)
            .await
            .unwrap();
        assert_eq!(changed, due, "{:?}", db.backend());
        // Per hour before / from the date: rows converted, rows not.
        let (before_converted, converted, unconverted_after): (i64, i64, i64) = sqlx::query_as(
            "SELECT
                COALESCE(SUM(CASE WHEN fx_source IS NOT NULL AND hour < $2 THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN fx_source = 'csv' AND hour >= $2 THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN fx_source IS NULL AND hour >= $2 THEN 1 ELSE 0 END), 0)
             FROM stats_segments WHERE tenant_id = $1",
        )
        .bind(&tenant.id)
        .bind(since_hour.timestamp_millis())
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(
            (before_converted, converted, unconverted_after),
            (0, due as i64, 0),
            "{:?}",
            db.backend()
        );
        // The same rates again change nothing.
        let again = segments::reconvert(&db, &tenant.id, "JPY", since, &series)
            .await
            .unwrap();
        assert_eq!(again, 0, "{:?}", db.backend());
    }
}

#[tokio::test]
async fn stats_segments_has_the_hourly_columns_installs_and_the_segment() {
    // stats_segments is stats_hourly's columns (generated from the metric table) plus the
    // segment and `installs`, kept parallel to stats_hourly's by hand in the migrations.
    let mut want: Vec<String> = xads::store::stats::column_list()
        .split(", ")
        .map(str::to_owned)
        .collect();
    want.extend(
        [
            "tenant_id",
            "fetched_at",
            "segment_type",
            "segment_name",
            "segment_value",
        ]
        .map(str::to_owned),
    );
    if !want.iter().any(|c| c == "installs") {
        want.push("installs".to_owned());
    }
    want.sort();
    for db in all_backends().await {
        let sql = match db.backend() {
            xads::db::Backend::Sqlite => "SELECT name FROM pragma_table_info('stats_segments')",
            xads::db::Backend::Postgres => {
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = 'stats_segments' AND table_schema = current_schema()"
            }
        };
        let mut have: Vec<String> = sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap();
        have.sort();
        assert_eq!(have, want, "{:?}", db.backend());
    }
}

/// `segments::upsert` writes through `stats::upsert`'s code (PostgreSQL: `COPY`), keyed also by
/// the segment: the segments of one hour are rows of their own, a repeated key replaces, the
/// same rows again change nothing, more rows than one statement's batch all land, and nothing
/// reaches `stats_hourly`.
#[tokio::test]
async fn segment_rows_upsert_on_their_segment_idempotently_on_both_backends() {
    use chrono::{Duration, TimeZone, Utc};
    use xads::store::segments::{self, SegmentRow};
    use xads::store::stats::{self, Fx, StatRow};
    use xads_client::vocab::{Placement, SegmentationType, StatsEntityType};

    let hour = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
    let row =
        |ty: SegmentationType, name: &str, value: &str, id: &str, h: i64, v: i64| SegmentRow {
            segment_type: ty,
            segment_name: name.into(),
            segment_value: value.into(),
            row: StatRow {
                account_id: "acct".into(),
                entity: StatsEntityType::Campaign,
                entity_id: id.into(),
                hour: hour + Duration::hours(h),
                placement: Placement::AllOnTwitter,
                values: std::array::from_fn(|i| Some(v * 10 + i as i64)),
                currency: "EUR".into(),
                fx: (v % 2 == 0).then(|| Fx {
                    rate: "1.0854".parse().unwrap(),
                    date: chrono::NaiveDate::from_ymd_opt(2026, 4, 30).unwrap(),
                    source: "ecb".into(),
                    spend_usd: "12.345678".parse().unwrap(),
                }),
            },
        };
    use SegmentationType::{Age, Platforms};
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let mut rows = vec![
            row(Platforms, "iOS", "0", "c1", 0, 1),
            row(Platforms, "Android", "1", "c1", 0, 2),
            // Names and values as X sends them, whatever bytes they hold.
            row(Platforms, "Desk\\top\t\"x\"\n", "4", "c1", 0, 3),
            // Another segmentation of the same hour is a row of its own.
            row(Age, "Age 25 to 34", "AGE_25_TO_34", "c1", 0, 4),
            row(Platforms, "iOS", "0", "c1", 1, 5),
            // The same key as the first row: it replaces it.
            row(Platforms, "iOS", "0", "c1", 0, 6),
        ];
        // Installs not asked: NULL in stats_segments too, read back unknown.
        rows[1].row.values[xads::store::stats::INSTALLS] = None;
        assert_eq!(
            segments::upsert(&db, &tenant.id, &rows, Utc::now())
                .await
                .unwrap(),
            6
        );
        let read = |db: xads::db::Db, tenant: String, ty: SegmentationType| async move {
            segments::query(
                &db,
                &tenant,
                "acct",
                StatsEntityType::Campaign,
                ty,
                hour,
                hour + Duration::hours(2),
            )
            .await
            .unwrap()
        };
        let stored = read(db.clone(), tenant.id.clone(), Platforms).await;
        // Ordered by entity, placement, segment name (bytewise), value, hour.
        assert_eq!(
            stored,
            vec![
                rows[1].clone(),
                rows[2].clone(),
                rows[5].clone(),
                rows[4].clone()
            ],
            "{:?}",
            db.backend()
        );
        assert_eq!(
            read(db.clone(), tenant.id.clone(), Age).await,
            vec![rows[3].clone()]
        );
        assert_eq!(segments::count(&db, &tenant.id, "acct").await.unwrap(), 5);
        assert_eq!(
            stats::count(&db, &tenant.id, "acct").await.unwrap(),
            0,
            "segment rows are not unsegmented rows"
        );
        // Idempotent.
        segments::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        assert_eq!(read(db.clone(), tenant.id.clone(), Platforms).await, stored);
        assert_eq!(segments::count(&db, &tenant.id, "acct").await.unwrap(), 5);
        // A stored row revised by a later call (a conflict with a changed value, on each
        // backend's path), its conversion gone: replaced in place.
        let mut revised = rows[5].clone();
        revised.row.values[0] = Some(999);
        revised.row.fx = None;
        segments::upsert(&db, &tenant.id, std::slice::from_ref(&revised), Utc::now())
            .await
            .unwrap();
        assert_eq!(
            read(db.clone(), tenant.id.clone(), Platforms).await,
            vec![rows[1].clone(), rows[2].clone(), revised, rows[4].clone()],
            "{:?}",
            db.backend()
        );
        assert_eq!(segments::count(&db, &tenant.id, "acct").await.unwrap(), 5);
        // More rows than one statement takes (1000), with a repeated key across batches.
        let many: Vec<SegmentRow> = (0..2_500)
            .map(|i| {
                row(
                    Age,
                    "Age 13 to 24",
                    "AGE_13_TO_24",
                    &format!("m{}", i % 1_200),
                    0,
                    7,
                )
            })
            .collect();
        assert_eq!(
            segments::upsert(&db, &tenant.id, &many, Utc::now())
                .await
                .unwrap(),
            2_500
        );
        assert_eq!(
            segments::count(&db, &tenant.id, "acct").await.unwrap(),
            5 + 1_200,
            "{:?}: keys repeated in one call are written once",
            db.backend()
        );
    }
}

/// `stats::aggregate` sums in SQL on both backends: only the ids asked for, local days cut at
/// the zone's offsets (here one that changes inside the window), the USD sum exact, a bucket
/// with two rates (or an hour without one) marked and left without a single rate.
#[tokio::test]
async fn stats_aggregate_buckets_by_offset_filters_ids_and_sums_exactly_on_both_backends() {
    use chrono::{Duration, TimeZone, Utc};
    use futures::TryStreamExt;
    use xads::store::stats::{self, Aggregate, Bucketing, Fx, StatRow};
    use xads_client::vocab::{Placement, StatsEntityType};

    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let row = |id: &str, h: i64, rate: Option<&str>| StatRow {
        account_id: "acct".into(),
        entity: StatsEntityType::Campaign,
        entity_id: id.into(),
        hour: t0 + Duration::hours(h),
        placement: Placement::AllOnTwitter,
        values: std::array::from_fn(|i| Some(1 + i as i64)),
        currency: "EUR".into(),
        fx: rate.map(|r| Fx {
            rate: r.parse().unwrap(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 2, 27).unwrap(),
            source: "ecb".into(),
            spend_usd: "0.100001".parse().unwrap(),
        }),
    };
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let mut rows = Vec::new();
        for h in 0..48 {
            // a: installs never asked; b: asked but one hour.
            let mut a = row("a", h, Some("1.08"));
            a.values[stats::INSTALLS] = None;
            rows.push(a);
            let mut b = row("b", h, if h == 30 { Some("1.09") } else { Some("1.08") });
            if h == 7 {
                b.values[stats::INSTALLS] = None;
            }
            rows.push(b);
            rows.push(row("c", h, (h != 5).then_some("1.08")));
        }
        stats::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        let read = |ids: &[&str], bucketing: Bucketing| {
            let q = Aggregate {
                tenant_id: tenant.id.clone(),
                account_id: "acct".into(),
                entity: StatsEntityType::Campaign,
                ids: ids.iter().map(|s| s.to_string()).collect(),
                from: t0,
                to: t0 + Duration::hours(48),
                bucketing,
                segment: None,
            };
            stats::aggregate(&db, q).try_collect::<Vec<_>>()
        };
        // UTC+1 until hour 10, then UTC+2: local days end at hour 23 (+1) and 46 (+2).
        let h = 3_600_000;
        let offsets = vec![
            (t0.timestamp_millis(), h),
            (t0.timestamp_millis() + 10 * h, 2 * h),
        ];
        let days = read(&["b", "c"], Bucketing::Day(offsets)).await.unwrap();
        let keys: Vec<(&str, i64, i64)> = days
            .iter()
            .map(|b| {
                (
                    b.entity_id.as_str(),
                    b.key - t0.timestamp_millis() / 86_400_000,
                    b.values[0].unwrap(),
                )
            })
            .collect();
        // b and c: day 0 has hours 0..=21 (22), day 1 hours 22..=45 (24), day 2 hours 46, 47.
        assert_eq!(
            keys,
            [
                ("b", 0, 22),
                ("b", 1, 24),
                ("b", 2, 2),
                ("c", 0, 22),
                ("c", 1, 24),
                ("c", 2, 2)
            ],
            "{:?}",
            db.backend()
        );
        assert!(days.iter().all(|b| b.entity_id != "a"), "ids filter in SQL");
        // b's day 1 holds hour 30 at another rate; c's day 0 holds hour 5 without one.
        assert!(days[1].mixed_fx && days[1].fx.is_none());
        assert_eq!(days[1].spend_usd, Some("2.400024".parse().unwrap()));
        assert!(!days[0].mixed_fx && days[0].fx.is_some());
        assert!(days[3].mixed_fx && days[3].spend_usd.is_none());
        assert_eq!(days[4].spend_usd, Some("2.400024".parse().unwrap()));
        let total = read(&[], Bucketing::Total).await.unwrap();
        assert_eq!(total.len(), 3);
        assert_eq!(total[0].values[1], Some(2 * 48));
        // A nullable column sums the hours that know it, and stays unknown where none does.
        assert_eq!(total[0].values[stats::INSTALLS], None, "{:?}", db.backend());
        let installs = 1 + stats::INSTALLS as i64;
        assert_eq!(total[1].values[stats::INSTALLS], Some(47 * installs));
        assert_eq!(total[2].values[stats::INSTALLS], Some(48 * installs));
        assert_eq!(total[0].spend_usd, Some("4.800048".parse().unwrap()));
        assert_eq!(total[0].last_hour, t0 + Duration::hours(47));
        let hours = read(&["a"], Bucketing::Hour).await.unwrap();
        assert_eq!(hours.len(), 48);
        assert_eq!(hours[47].key, (t0 + Duration::hours(47)).timestamp_millis());
    }
}

#[tokio::test]
async fn reads_over_all_of_an_accounts_entities_seek_each_one_and_miss_none_on_both_backends() {
    use chrono::{Duration, TimeZone, Utc};
    use futures::TryStreamExt;
    use xads::store::stats::{self, Aggregate, Bucketing, StatRow};
    use xads_client::vocab::{Placement, StatsEntityType};

    // stats_hourly has no index by hour: a read of all of an account's entities walks their
    // ids in the primary key (stats::stored_ids_in), and the daily roll-up re-aggregates a
    // stale day the same way. Ids that prefix each other, an entity with hours only before
    // the window, another entity type and accounts that sort on either side must not confuse
    // the walk.
    let t0 = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
    let row = |account: &str, entity, id: &str, h: i64, impressions: i64| {
        let mut r = StatRow {
            account_id: account.into(),
            entity,
            entity_id: id.into(),
            hour: t0 + Duration::hours(h),
            placement: Placement::AllOnTwitter,
            values: std::array::from_fn(|_| Some(0)),
            currency: "USD".into(),
            fx: None,
        };
        r.values[0] = Some(impressions);
        r
    };
    let campaign = StatsEntityType::Campaign;
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        let (other, _) = tenants::create(&db, "U", Utc::now()).await.unwrap();
        let mut rows = Vec::new();
        for h in 0..72 {
            for (n, id) in ["a", "a0", "a00", "b", "z"].iter().enumerate() {
                rows.push(row("acct", campaign, id, h, 1 + n as i64));
            }
            rows.push(row("acct", StatsEntityType::LineItem, "a1", h, 100));
            rows.push(row("acc", campaign, "a01", h, 1000));
            rows.push(row("acctz", campaign, "a01", h, 1000));
        }
        // "m": hours only before the window.
        rows.extend((-48..0).map(|h| row("acct", campaign, "m", h, 7)));
        stats::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();
        stats::upsert(
            &db,
            &other.id,
            &[row("acct", campaign, "a01", 5, 1000)],
            Utc::now(),
        )
        .await
        .unwrap();
        let totals = |from: i64, to: i64, hourly: bool| {
            let q = Aggregate {
                tenant_id: tenant.id.clone(),
                account_id: "acct".into(),
                entity: campaign,
                ids: Vec::new(),
                from: t0 + Duration::hours(from),
                to: t0 + Duration::hours(to),
                bucketing: Bucketing::Total,
                segment: None,
            };
            let db = db.clone();
            async move {
                let buckets: Vec<_> = if hourly {
                    stats::aggregate_hourly(&db, q).try_collect().await.unwrap()
                } else {
                    stats::aggregate(&db, q).try_collect().await.unwrap()
                };
                buckets
                    .into_iter()
                    .map(|b| (b.entity_id, b.values[0].unwrap()))
                    .collect::<Vec<_>>()
            }
        };
        let expect = |days: i64, bump: i64| {
            ["a", "a0", "a00", "b", "z"]
                .iter()
                .enumerate()
                .map(|(n, id)| (id.to_string(), 24 * days * (1 + n as i64) + bump))
                .collect::<Vec<_>>()
        };
        let backend = db.backend();
        // Hours within a day (hourly rows), then whole days (the roll-up, built on first read).
        assert_eq!(totals(3, 27, true).await, expect(1, 0), "{backend:?}");
        assert_eq!(totals(0, 72, false).await, expect(3, 0), "{backend:?}");
        assert_eq!(
            totals(-48, 72, true).await.len(),
            6,
            "{backend:?}: m before the window"
        );
        // A revised hour marks its day stale; the roll-up re-aggregates that day, every entity.
        let revised: Vec<_> = ["a", "a0", "a00", "b", "z"]
            .iter()
            .enumerate()
            .map(|(n, id)| row("acct", campaign, id, 30, 1 + n as i64 + 10))
            .collect();
        stats::upsert(&db, &tenant.id, &revised, Utc::now())
            .await
            .unwrap();
        assert_eq!(totals(0, 72, false).await, expect(3, 10), "{backend:?}");
        assert_eq!(totals(24, 48, false).await, expect(1, 10), "{backend:?}");
        assert_eq!(totals(0, 72, true).await, expect(3, 10), "{backend:?}");

        // And the read seeks each entity: its plan looks rows up by entity id, not by the
        // account's whole key prefix.
        let q = Aggregate {
            tenant_id: tenant.id.clone(),
            account_id: "acct".into(),
            entity: campaign,
            ids: Vec::new(),
            from: t0,
            to: t0 + Duration::hours(72),
            bucketing: Bucketing::Total,
            segment: None,
        };
        let (explain, detail) = match backend {
            xads::db::Backend::Sqlite => ("EXPLAIN QUERY PLAN ", 3),
            xads::db::Backend::Postgres => ("EXPLAIN ", 0),
        };
        let mut tx = db.pool().begin().await.unwrap();
        if backend == xads::db::Backend::Postgres {
            // This table is a few hundred rows, which PostgreSQL would rather scan whole; what
            // is checked is that the statement lets it seek each entity, as it does at scale
            // (BENCHMARKS.md, 2026-12-07).
            sqlx::query("ANALYZE stats_hourly")
                .execute(&mut *tx)
                .await
                .unwrap();
            for off in ["seqscan", "bitmapscan", "hashjoin", "mergejoin"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL enable_{off} = off")))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{explain}{}",
            stats::aggregate_sql(&q, backend)
        )))
        .bind(&tenant.id)
        .bind("acct")
        .bind(campaign.as_str())
        .bind(t0.timestamp_millis())
        .bind((t0 + Duration::hours(72)).timestamp_millis())
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, detail))
        .collect();
        let plan = plan.join("\n");
        let seek = match backend {
            xads::db::Backend::Sqlite => "AND entity_id=? AND hour>? AND hour<?",
            xads::db::Backend::Postgres => "(entity_id = ids.id)",
        };
        assert!(plan.contains(seek), "{backend:?}: {plan}");
    }
}
