//! The daily roll-up of stats (`store::daily`, issue 17 item 5): a report over whole local days
//! reads `stats_daily` and answers exactly what the hourly rows sum to, on both backends, through
//! upserts that revise hours, re-conversions, a time-zone change and rows stored before the
//! roll-up existed.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use futures::TryStreamExt;
use xads::db::Db;
use xads::store::connections::{self, AdAccount};
use xads::store::daily::zone_offsets;
use xads::store::stats::{self, Aggregate, Bucket, Bucketing, Fx, StatRow};
use xads::store::tenants;
use xads::testing::all_backends;
use xads_client::vocab::{Placement, StatsEntityType};

fn account(id: &str, timezone: &str) -> AdAccount {
    AdAccount {
        id: id.into(),
        name: id.into(),
        timezone: timezone.into(),
        currency: Some("EUR".into()),
        approval_status: None,
    }
}

/// An hour of campaign `id` with values that differ per id, hour and `salt`; every 7th hour
/// has no rate, hours from 100 on another rate than before, and campaign "c" never knows
/// installs.
fn row(acct: &str, id: &str, hour: DateTime<Utc>, salt: i64) -> StatRow {
    let n = hour.timestamp() / 3600;
    let mut values: stats::Values =
        std::array::from_fn(|i| Some((n % 97) * (i as i64 + 1) + salt + id.len() as i64));
    if id == "c" {
        values[stats::INSTALLS] = None;
    }
    let spend = values[stats::SPEND_LOCAL_MICRO].unwrap();
    let rate = if n % 100 < 50 { "1.08" } else { "1.09" };
    StatRow {
        account_id: acct.into(),
        entity: StatsEntityType::Campaign,
        entity_id: id.into(),
        hour,
        placement: Placement::AllOnTwitter,
        values,
        currency: "EUR".into(),
        fx: (n % 7 != 0).then(|| Fx {
            rate: rate.parse().unwrap(),
            date: hour.date_naive() - Duration::days(if n % 11 == 0 { 9 } else { 1 }),
            source: "ecb".into(),
            spend_usd: xads::fx::spend_usd(spend, rate.parse().unwrap()),
        }),
    }
}

/// Every hour of campaigns a, b, c in `[from, from + hours)`.
fn hours(acct: &str, from: DateTime<Utc>, hours: i64, salt: i64) -> Vec<StatRow> {
    (0..hours)
        .flat_map(|h| ["a", "b", "c"].map(|id| row(acct, id, from + Duration::hours(h), salt)))
        .collect()
}

fn local_midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(tz)
        .earliest()
        .unwrap()
        .to_utc()
}

struct Reader<'a> {
    db: &'a Db,
    tenant: String,
    acct: &'static str,
}

impl Reader<'_> {
    fn query(&self, from: DateTime<Utc>, to: DateTime<Utc>, bucketing: Bucketing) -> Aggregate {
        Aggregate {
            tenant_id: self.tenant.clone(),
            account_id: self.acct.into(),
            entity: StatsEntityType::Campaign,
            ids: Vec::new(),
            from,
            to,
            bucketing,
            segment: None,
        }
    }

    /// The roll-up's answer and the hourly rows' answer.
    async fn both(&self, q: Aggregate) -> (Vec<Bucket>, Vec<Bucket>) {
        let rolled = stats::aggregate(self.db, q.clone())
            .try_collect()
            .await
            .unwrap();
        let hourly = stats::aggregate_hourly(self.db, q)
            .try_collect()
            .await
            .unwrap();
        (rolled, hourly)
    }

    /// By day in `tz` and in total over `[from, to)`: the same buckets either way.
    async fn agrees(&self, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>, what: &str) {
        for bucketing in [Bucketing::Day(zone_offsets(tz, from, to)), Bucketing::Total] {
            let (rolled, hourly) = self.both(self.query(from, to, bucketing.clone())).await;
            assert!(!hourly.is_empty(), "{what}: the window holds rows");
            assert_eq!(
                rolled,
                hourly,
                "{what}, {bucketing:?}: {:?}",
                self.db.backend()
            );
        }
    }

    /// Whether a read of `[from, to)` by day in `tz` comes from `stats_daily`: a marker added to
    /// every stored day shows in the answer only if it does (then taken away again).
    async fn reads_roll_up(&self, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let bump = |by: i64| {
            sqlx::query("UPDATE stats_daily SET impressions = impressions + $1")
                .bind(by)
                .execute(self.db.pool())
        };
        bump(1_000_000).await.unwrap();
        let (rolled, hourly) = self
            .both(self.query(from, to, Bucketing::Day(zone_offsets(tz, from, to))))
            .await;
        bump(-1_000_000).await.unwrap();
        rolled != hourly
    }
}

#[tokio::test]
async fn reports_over_whole_local_days_read_the_daily_roll_up_and_equal_the_hourly_rows() {
    let la: Tz = "America/Los_Angeles".parse().unwrap();
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    // Across the end of daylight saving time in Los Angeles (2026-11-01).
    let t0 = Utc.with_ymd_and_hms(2026, 10, 27, 0, 0, 0).unwrap();
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 10, 28).unwrap() + Duration::days(d.into());
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        connections::replace_ad_accounts(
            &db,
            &tenant.id,
            &[
                account("la", "America/Los_Angeles"),
                account("in", "Asia/Kolkata"),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
        let la_read = Reader {
            db: &db,
            tenant: tenant.id.clone(),
            acct: "la",
        };
        let in_read = Reader {
            db: &db,
            tenant: tenant.id.clone(),
            acct: "in",
        };
        // Ten days in one write, then a revision of 30 hours in the middle (new values, as X
        // revises the trailing window), and a lone late hour of one campaign.
        let mut first = hours("la", t0, 240, 0);
        first.extend(hours("in", t0, 240, 5));
        stats::upsert(&db, &tenant.id, &first, Utc::now())
            .await
            .unwrap();
        let revised = hours("la", t0 + Duration::hours(100), 30, 7);
        stats::upsert(&db, &tenant.id, &revised, Utc::now())
            .await
            .unwrap();
        stats::upsert(
            &db,
            &tenant.id,
            &[row("la", "b", t0 + Duration::hours(200), 40)],
            Utc::now(),
        )
        .await
        .unwrap();

        let (from, to) = (local_midnight(day(0), la), local_midnight(day(8), la));
        la_read.agrees(la, from, to, "eight LA days").await;
        assert!(
            la_read.reads_roll_up(la, from, to).await,
            "{:?}",
            db.backend()
        );
        let (from, to) = (
            local_midnight(day(1), kolkata),
            local_midnight(day(5), kolkata),
        );
        assert_eq!(from.timestamp() % 3600, 1800, "a half-hour zone");
        // Kolkata's days start with the hour its midnight falls in: 19:00 UTC.
        let (from, to) = (from + Duration::minutes(30), to + Duration::minutes(30));
        in_read.agrees(kolkata, from, to, "four Kolkata days").await;
        assert!(in_read.reads_roll_up(kolkata, from, to).await);

        // A window that does not start at a local day reads the hours.
        let (from, to) = (local_midnight(day(0), la), local_midnight(day(3), la));
        let ragged = from + Duration::hours(5);
        la_read.agrees(la, ragged, to, "ragged").await;
        assert!(!la_read.reads_roll_up(la, ragged, to).await);
        // So does a read cut in another zone than the roll-up's.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let (bf, bt) = (
            local_midnight(day(1), berlin),
            local_midnight(day(4), berlin),
        );
        la_read.agrees(berlin, bf, bt, "another zone").await;
        assert!(!la_read.reads_roll_up(berlin, bf, bt).await);

        // A back-dated rate re-converts hours; their days follow in the same transaction.
        let series = vec![(
            day(0) - Duration::days(30),
            "1.2345".parse().unwrap(),
            "csv".to_owned(),
        )];
        let changed = stats::reconvert(&db, &tenant.id, "EUR", day(0), &series)
            .await
            .unwrap();
        assert!(changed > 0);
        la_read.agrees(la, from, to, "after re-conversion").await;
        in_read
            .agrees(
                kolkata,
                local_midnight(day(1), kolkata) + Duration::minutes(30),
                local_midnight(day(3), kolkata) + Duration::minutes(30),
                "after re-conversion",
            )
            .await;

        // The account moves to Berlin: the next read rebuilds the roll-up in the new zone.
        connections::replace_ad_accounts(
            &db,
            &tenant.id,
            &[
                account("la", "Europe/Berlin"),
                account("in", "Asia/Kolkata"),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
        la_read.agrees(berlin, bf, bt, "zone changed").await;
        assert!(la_read.reads_roll_up(berlin, bf, bt).await);
        let zone: String =
            sqlx::query_scalar("SELECT timezone FROM stats_daily_zones WHERE account_id = 'la'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(zone, "Europe/Berlin");

        // Rows stored before the roll-up existed: the first read rolls them up.
        for forget in [
            "DELETE FROM stats_daily WHERE account_id = 'in'",
            "DELETE FROM stats_daily_zones WHERE account_id = 'in'",
        ] {
            sqlx::query(forget).execute(db.pool()).await.unwrap();
        }
        let (kf, kt) = (
            local_midnight(day(2), kolkata) + Duration::minutes(30),
            local_midnight(day(6), kolkata) + Duration::minutes(30),
        );
        in_read
            .agrees(kolkata, kf, kt, "rolled up at the first read")
            .await;
        assert!(in_read.reads_roll_up(kolkata, kf, kt).await);

        // A write marks its UTC dates stale and leaves stats_daily alone; the next read
        // settles them (and only then does the roll-up hold the new hour).
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stats_daily")
            .fetch_one(db.pool())
            .await
            .unwrap();
        let late = t0 + Duration::hours(500);
        stats::upsert(&db, &tenant.id, &[row("in", "a", late, 9)], Utc::now())
            .await
            .unwrap();
        let marks: Vec<(String, i64)> =
            sqlx::query_as("SELECT account_id, utc_day FROM stats_daily_dirty")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(marks, [("in".to_owned(), late.timestamp() / 86_400)]);
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stats_daily")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(before, after, "the write itself aggregates nothing");
        let (lf, lt) = (
            local_midnight(late.date_naive() - Duration::days(1), kolkata) + Duration::minutes(30),
            local_midnight(late.date_naive() + Duration::days(2), kolkata) + Duration::minutes(30),
        );
        in_read.agrees(kolkata, lf, lt, "settled by the read").await;
        let marks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stats_daily_dirty")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(marks, 0);
    }
}

/// Two writers of the same account's days and two readers settling the roll-up, at once
/// (PostgreSQL, where they really run concurrently): the roll-up still equals the hours.
#[tokio::test]
async fn concurrent_writers_and_settling_readers_leave_the_roll_up_exact() {
    let Some(db) = xads::testing::postgres_db().await else {
        return;
    };
    let la: Tz = "America/Los_Angeles".parse().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap();
    let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
    connections::replace_ad_accounts(
        &db,
        &tenant.id,
        &[account("la", "America/Los_Angeles")],
        Utc::now(),
    )
    .await
    .unwrap();
    stats::upsert(&db, &tenant.id, &hours("la", t0, 48, 0), Utc::now())
        .await
        .unwrap();
    for round in 0..5 {
        // Each writer revises different hours of the same two days.
        let evens: Vec<StatRow> = hours("la", t0, 48, round)
            .into_iter()
            .filter(|r| r.hour.timestamp() / 3600 % 2 == 0)
            .collect();
        let odds: Vec<StatRow> = hours("la", t0, 48, round + 100)
            .into_iter()
            .filter(|r| r.hour.timestamp() / 3600 % 2 == 1)
            .collect();
        let reader = Reader {
            db: &db,
            tenant: tenant.id.clone(),
            acct: "la",
        };
        // Two report reads meanwhile settle the roll-up while the writers mark days stale.
        let during = reader.query(t0, t0 + Duration::days(2), Bucketing::Total);
        let (a, b, c, d) = tokio::join!(
            stats::upsert(&db, &tenant.id, &evens, Utc::now()),
            stats::upsert(&db, &tenant.id, &odds, Utc::now()),
            stats::aggregate(&db, during.clone()).try_collect::<Vec<_>>(),
            stats::aggregate(&db, during).try_collect::<Vec<_>>()
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        d.unwrap();
        reader
            .agrees(la, t0, t0 + Duration::days(2), &format!("round {round}"))
            .await;
        assert!(reader.reads_roll_up(la, t0, t0 + Duration::days(2)).await);
    }
}

/// What the Reports page used to compute from every entity's buckets, per key: the metrics
/// summed, the USD of the buckets that have it, whether some bucket with spend has none, and the
/// single rates of the stale buckets.
fn summed_per_key(buckets: &[Bucket]) -> Vec<stats::KeyTotal> {
    let mut out: std::collections::BTreeMap<i64, stats::KeyTotal> = Default::default();
    for b in buckets {
        let e = out.entry(b.key).or_insert_with(|| stats::KeyTotal {
            key: b.key,
            values: [None; xads_client::vocab::COLUMNS.len()],
            spend_usd: Default::default(),
            usd_missing: false,
            fx_stale: false,
            stale_rates: Vec::new(),
        });
        for (v, w) in e.values.iter_mut().zip(b.values) {
            if let Some(w) = w {
                *v = Some(v.unwrap_or(0) + w);
            }
        }
        e.spend_usd += b.spend_usd.unwrap_or_default();
        e.usd_missing |=
            b.spend_usd.is_none() && b.values[stats::SPEND_LOCAL_MICRO].is_some_and(|m| m > 0);
        e.fx_stale |= b.fx_stale;
        if let (true, Some((rate, date, _))) = (b.fx_stale, &b.fx)
            && !e.stale_rates.contains(&(*rate, *date))
        {
            e.stale_rates.push((*rate, *date));
        }
    }
    out.into_values()
        .map(|mut k| {
            k.stale_rates.sort();
            k
        })
        .collect()
}

/// A chart's points (`stats::aggregate_keys`, what the Reports page plots) are the buckets of
/// every entity and placement summed per key by the database, equal to those buckets summed
/// here: by day from the roll-up and from the hours, by hour and in total, with days whose USD
/// is partly missing, days converted with one stale rate, and days of mixed rates.
#[tokio::test]
async fn a_charts_points_are_every_entitys_buckets_summed_per_key() {
    let t0 = Utc.with_ymd_and_hms(2026, 10, 27, 0, 0, 0).unwrap();
    let la: Tz = "America/Los_Angeles".parse().unwrap();
    for db in all_backends().await {
        let (tenant, _) = tenants::create(&db, "T", Utc::now()).await.unwrap();
        connections::replace_ad_accounts(
            &db,
            &tenant.id,
            &[account("utc", "UTC"), account("la", "America/Los_Angeles")],
            Utc::now(),
        )
        .await
        .unwrap();
        // UTC: one rate per UTC day, stale (dated 2026-10-01) for the first four days; campaign
        // "c" has no USD on the third day; "a" also serves in a second placement.
        let mut rows: Vec<StatRow> = hours("utc", t0, 24 * 8, 0)
            .into_iter()
            .map(|mut r| {
                let day = (r.hour - t0).num_days();
                let date = if day < 4 {
                    NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
                } else {
                    r.hour.date_naive()
                };
                let spend = r.values[stats::SPEND_LOCAL_MICRO].unwrap();
                r.fx = (day != 2 || r.entity_id != "c").then(|| Fx {
                    rate: "1.0712".parse().unwrap(),
                    date,
                    source: "ecb".into(),
                    spend_usd: xads::fx::spend_usd(spend, "1.0712".parse().unwrap()),
                });
                r
            })
            .collect();
        let other: Vec<StatRow> = rows
            .iter()
            .filter(|r| r.entity_id == "a")
            .map(|r| StatRow {
                placement: Placement::PublisherNetwork,
                ..r.clone()
            })
            .collect();
        rows.extend(other);
        rows.extend(hours("la", t0, 24 * 8, 3));
        stats::upsert(&db, &tenant.id, &rows, Utc::now())
            .await
            .unwrap();

        let day = |d: i64| t0 + Duration::days(d);
        let la_from = local_midnight(NaiveDate::from_ymd_opt(2026, 10, 28).unwrap(), la);
        let la_to = local_midnight(NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(), la);
        let cases = [
            (
                "utc",
                Bucketing::Day(zone_offsets(Tz::UTC, day(0), day(8))),
                day(0),
                day(8),
            ),
            ("utc", Bucketing::Total, day(0), day(8)),
            ("utc", Bucketing::Hour, day(1), day(3)),
            // Not whole days: from the hours.
            (
                "utc",
                Bucketing::Day(zone_offsets(Tz::UTC, day(0), day(8))),
                day(0) + Duration::hours(5),
                day(8),
            ),
            (
                "la",
                Bucketing::Day(zone_offsets(la, la_from, la_to)),
                la_from,
                la_to,
            ),
            ("la", Bucketing::Hour, la_from, la_from + Duration::days(1)),
        ];
        let mut seen = (false, false, false);
        for (acct, bucketing, from, to) in cases {
            let reader = Reader {
                db: &db,
                tenant: tenant.id.clone(),
                acct,
            };
            let q = reader.query(from, to, bucketing.clone());
            let buckets: Vec<Bucket> = stats::aggregate(&db, q.clone())
                .try_collect()
                .await
                .unwrap();
            let points = stats::aggregate_keys(&db, &q).await.unwrap();
            assert!(!points.is_empty());
            assert_eq!(
                points,
                summed_per_key(&buckets),
                "{acct} {bucketing:?} {from}: {:?}",
                db.backend()
            );
            seen.0 |= points.iter().any(|p| p.usd_missing);
            seen.1 |= points.iter().any(|p| !p.stale_rates.is_empty());
            seen.2 |= points
                .iter()
                .any(|p| p.fx_stale && p.stale_rates.is_empty());
        }
        assert_eq!(seen, (true, true, true), "every case is exercised");
    }
}

/// The Reports page's figures of a view (`ui::ReportCache`) are answered again only while the
/// stats versions they were read at hold: with two instances on one database, every write the
/// other instance commits (an upsert, a re-conversion after a tenant's FX rate, breakdown rows)
/// shows on the next view, as a fresh instance computes it; a change that moves no version (a
/// raw update behind the store's back) does not, so the figures are indeed cached; and two
/// tenants with the same account id never see each other's.
#[tokio::test]
async fn cached_report_figures_follow_every_write_of_either_instance_and_stay_per_tenant() {
    use crate::helpers::TestApp;
    use crate::levels::cells;
    use crate::ui::{login, page};
    use xads::store::segments::{self, SegmentRow};
    use xads_client::vocab::SegmentationType;

    let t0 = Utc.with_ymd_and_hms(2026, 10, 5, 0, 0, 0).unwrap();
    let rows = |imp: i64| -> Vec<StatRow> {
        (0..48)
            .flat_map(|h| {
                ["a", "b"].map(|id| {
                    let mut r = row("acc", id, t0 + Duration::hours(h), 0);
                    r.values[stats::IMPRESSIONS] = Some(imp);
                    let spend = r.values[stats::SPEND_LOCAL_MICRO].unwrap();
                    r.fx = Some(Fx {
                        rate: "1.08".parse().unwrap(),
                        date: r.hour.date_naive(),
                        source: "ecb".into(),
                        spend_usd: xads::fx::spend_usd(spend, "1.08".parse().unwrap()),
                    });
                    r
                })
            })
            .collect()
    };
    let view = "/reports?account=acc&from=2026-10-05&to=2026-10-06";
    // The TOTAL row's cells and the chart's card of a page.
    let figures = |html: &str| {
        let chart = html.find("id=\"chart\"").expect("the chart");
        let end = chart + html[chart..].find("</svg></div></div>").expect("its end");
        (cells(html, "<tr id=\"total\""), html[chart..end].to_owned())
    };
    for url in xads::testing::all_backend_urls().await {
        let a = TestApp::spawn(&url, Default::default()).await;
        let b = TestApp::spawn(&url, Default::default()).await;
        let db = &a.state.db;
        let (key1, key2) = (a.tenant("One").await, a.tenant("Two").await);
        let mut ids = Vec::new();
        for key in [&key1, &key2] {
            let t = tenants::by_api_key(db, key).await.unwrap().unwrap();
            connections::replace_ad_accounts(db, &t.id, &[account("acc", "UTC")], Utc::now())
                .await
                .unwrap();
            ids.push(t.id);
        }
        stats::upsert(db, &ids[0], &rows(10), Utc::now())
            .await
            .unwrap();
        stats::upsert(db, &ids[1], &rows(1), Utc::now())
            .await
            .unwrap();
        let (one, two) = (login(&a, &key1).await, login(&a, &key2).await);
        // What an instance with nothing cached shows now.
        let fresh = |cookie: String, path: String| {
            let url = url.clone();
            async move {
                let c = TestApp::spawn(&url, Default::default()).await;
                figures(&page(&c, &cookie, &path).await.1)
            }
        };

        let (status, html) = page(&a, &one, view).await;
        assert_eq!(status, 200, "{html}");
        let (total, chart) = figures(&html);
        assert_eq!(total[0], "960", "{url}: 2 campaigns × 48 hours × 10");
        assert_eq!(figures(&page(&a, &two, view).await.1).0[0], "96", "{url}");
        assert_eq!(
            figures(&page(&a, &one, view).await.1),
            (total.clone(), chart)
        );

        // Behind the store's back (no version moves): the cached figures stay, a fresh
        // instance sees the change. Then put back.
        let behind = |by: i64| {
            sqlx::query(
                "UPDATE stats_daily SET impressions = impressions + $1 WHERE tenant_id = $2",
            )
            .bind(by)
            .bind(&ids[0])
            .execute(db.pool())
        };
        behind(5).await.unwrap();
        assert_eq!(figures(&page(&a, &one, view).await.1).0[0], "960", "{url}");
        assert_eq!(fresh(one.clone(), view.into()).await.0[0], "980", "{url}");
        behind(-5).await.unwrap();

        // An upsert on the other instance: the next view on this one shows it.
        let mut revised = rows(10);
        revised.truncate(1);
        revised[0].values[stats::IMPRESSIONS] = Some(1_010);
        stats::upsert(&b.state.db, &ids[0], &revised, Utc::now())
            .await
            .unwrap();
        let now = figures(&page(&a, &one, view).await.1);
        assert_eq!(now.0[0], "1,960", "{url}");
        assert_eq!(now, fresh(one.clone(), view.into()).await, "{url}");

        // The tenant's own FX rate, posted to the other instance, re-converts its rows.
        let usd_before = now.0[6].clone();
        let (status, body) = b
            .send(
                reqwest::Method::POST,
                &key1,
                "/api/v1/fx_rates",
                Some(serde_json::json!({"rates": [
                    {"date": "2026-10-05", "currency": "EUR", "usd_per_unit": "2.5"}
                ]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let now = figures(&page(&a, &one, view).await.1);
        assert_ne!(now.0[6], usd_before, "{url}: USD re-converted");
        assert_eq!(now, fresh(one.clone(), view.into()).await, "{url}");

        // Breakdown rows written on the other instance show in the breakdown's view.
        let split = format!("{view}&segment=PLATFORMS");
        assert!(
            page(&a, &one, &split)
                .await
                .1
                .contains("id=\"breakdown-empty\"")
        );
        let segment = SegmentRow {
            segment_type: SegmentationType::Platforms,
            segment_name: "iOS".into(),
            segment_value: "0".into(),
            row: rows(10).remove(0),
        };
        segments::upsert(&b.state.db, &ids[0], &[segment], Utc::now())
            .await
            .unwrap();
        let html = page(&a, &one, &split).await.1;
        assert_eq!(cells(&html, "<tr data-segment=\"iOS\"")[1], "10", "{url}");

        // The other tenant's figures never moved.
        assert_eq!(figures(&page(&a, &two, view).await.1).0[0], "96", "{url}");
        assert!(
            xads::store::daily::versions(db, &ids[0]).await.unwrap()["acc"] >= 4,
            "{url}: every write moved the version"
        );
    }
}
