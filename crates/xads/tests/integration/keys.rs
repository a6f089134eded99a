//! Secrets at rest (issue 16, item 6) on both backends: tokens bound to their token version,
//! legacy rows upgraded on first read, and `xads keys rotate`.

use chrono::Utc;
use sqlx::Row;
use xads::crypto::Sealer;
use xads::db::Db;
use xads::store::connections::{self, Method, NewTokens};
use xads::testing::{all_backend_urls, all_backends};
use xads_client::Secret;

use serde_json::json;
use xads::app::Application;
use xads::config::Config;

use crate::helpers::{AccountCtx, vars_for};

/// Not the harness's key (helpers::vars_for): the key a rotation moves to.
const NEW_KEY: &str = "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE=";

async fn cts(db: &Db, id: &str) -> (Vec<u8>, Vec<u8>) {
    let row = sqlx::query("SELECT access_ct, refresh_ct FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn put_cts(db: &Db, id: &str, access: &[u8], refresh: &[u8]) {
    sqlx::query("UPDATE connections SET access_ct = $1, refresh_ct = $2 WHERE id = $3")
        .bind(access)
        .bind(refresh)
        .bind(id)
        .execute(db.pool())
        .await
        .unwrap();
}

async fn scheme_and_key(db: &Db, id: &str) -> (i16, Option<String>) {
    let row = sqlx::query("SELECT seal_scheme, key_id FROM connections WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn open(db: &Db, sealer: &Sealer, id: &str) -> Option<(String, String)> {
    let t = connections::load_tokens(db, sealer, id).await.ok()??;
    Some((
        t.access.expose().to_owned(),
        t.refresh.as_ref().unwrap().expose().to_owned(),
    ))
}

fn pair<'a>(access: &'a Secret, refresh: Option<&'a Secret>) -> NewTokens<'a> {
    NewTokens {
        access,
        refresh,
        expires_at: None,
    }
}

#[tokio::test]
async fn a_token_of_an_earlier_version_does_not_open_and_legacy_rows_upgrade() {
    for db in all_backends().await {
        let (tenant, _) = xads::store::tenants::create(&db, "Keys", Utc::now())
            .await
            .unwrap();
        let sealer = Sealer::new(&[3; 32]);
        let now = Utc::now();
        let (a1, r1) = (Secret::new("access-one"), Secret::new("refresh-one"));
        let c = connections::save_grant(
            &db,
            &sealer,
            &tenant.id,
            Method::OAuth2,
            "ads.read",
            pair(&a1, Some(&r1)),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            scheme_and_key(&db, &c.id).await,
            (2, Some(sealer.key_id().to_owned()))
        );
        let (old_access, old_refresh) = cts(&db, &c.id).await;

        // A refresh: version + 1, the pair sealed for it.
        let (a2, r2) = (Secret::new("access-two"), Secret::new("refresh-two"));
        let v = connections::save_refreshed(
            &db,
            &sealer,
            &c.id,
            c.token_version,
            pair(&a2, Some(&r2)),
            now,
        )
        .await
        .unwrap();
        assert_eq!(v, c.token_version + 1);
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            Some(("access-two".into(), "refresh-two".into()))
        );
        let (new_access, new_refresh) = cts(&db, &c.id).await;

        // The earlier version's ciphertexts, written back into the same row, do not open.
        put_cts(&db, &c.id, &old_access, &new_refresh).await;
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            None,
            "old access token opened"
        );
        put_cts(&db, &c.id, &new_access, &old_refresh).await;
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            None,
            "old refresh token opened"
        );
        put_cts(&db, &c.id, &new_access, &new_refresh).await;
        assert!(open(&db, &sealer, &c.id).await.is_some());

        // A refresh without a new refresh token keeps the stored one, sealed for the new version.
        let a3 = Secret::new("access-three");
        connections::save_refreshed(&db, &sealer, &c.id, v, pair(&a3, None), now)
            .await
            .unwrap();
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            Some(("access-three".into(), "refresh-two".into()))
        );

        // A row sealed before this change: bound to row and field only, no key id recorded.
        let legacy_access = sealer.seal(b"legacy-access", &format!("connection:{}:access", c.id));
        let legacy_refresh =
            sealer.seal(b"legacy-refresh", &format!("connection:{}:refresh", c.id));
        put_cts(&db, &c.id, &legacy_access, &legacy_refresh).await;
        sqlx::query("UPDATE connections SET seal_scheme = 1, key_id = NULL WHERE id = $1")
            .bind(&c.id)
            .execute(db.pool())
            .await
            .unwrap();
        // Opened once the old way, then re-sealed bound to its version, and still works.
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            Some(("legacy-access".into(), "legacy-refresh".into()))
        );
        assert_eq!(
            scheme_and_key(&db, &c.id).await,
            (2, Some(sealer.key_id().to_owned()))
        );
        assert_ne!(cts(&db, &c.id).await.0, legacy_access);
        assert_eq!(
            open(&db, &sealer, &c.id).await,
            Some(("legacy-access".into(), "legacy-refresh".into()))
        );
        // The legacy ciphertext written back over the upgraded row no longer opens.
        put_cts(&db, &c.id, &legacy_access, &legacy_refresh).await;
        assert_eq!(open(&db, &sealer, &c.id).await, None);
    }
}

#[tokio::test]
async fn rotation_moves_every_secret_to_the_new_key_resumably() {
    for url in all_backend_urls().await {
        let c = AccountCtx::new(&url, true).await;
        let (app, key) = (&c.app, &c.key);
        // Another connect started and left pending: its sealed verifier must move too.
        app.start_connect(key).await;
        let db = &app.state.db;
        let old = app.state.sealer.clone();
        let tenant = xads::store::tenants::by_api_key(db, key)
            .await
            .unwrap()
            .unwrap();
        let conn = connections::for_tenant(db, &tenant.id)
            .await
            .unwrap()
            .unwrap();
        let before = open(db, &old, &conn.id)
            .await
            .expect("opens with the old key");

        let new_only = Sealer::from_base64(NEW_KEY).unwrap();
        let rotating = new_only.clone().with_previous(&old);
        // Interrupted after one row: the rest is left, and says so.
        let first = xads::keys::rotate(db, &rotating, Some(1)).await.unwrap();
        assert_eq!(first.resealed, 1, "{first:?}");
        assert!(first.failed.is_empty(), "{first:?}");
        assert!(
            first.remaining >= 2,
            "a connection and two pending rows: {first:?}"
        );
        // Instances with both keys keep working during the rotation.
        assert_eq!(open(db, &rotating, &conn.id).await.as_ref(), Some(&before));
        // Resumed: everything else.
        let second = xads::keys::rotate(db, &rotating, None).await.unwrap();
        assert_eq!(second.resealed, first.remaining, "{second:?}");
        assert_eq!(
            (second.remaining, second.failed.len()),
            (0, 0),
            "{second:?}"
        );
        // Again: nothing to do.
        let third = xads::keys::rotate(db, &rotating, None).await.unwrap();
        assert_eq!(third, xads::keys::RotateReport::default());

        // The old key alone opens nothing any more; the new key alone opens everything.
        assert_eq!(open(db, &old, &conn.id).await, None);
        assert_eq!(open(db, &new_only, &conn.id).await.as_ref(), Some(&before));
        let left: Vec<Option<String>> = sqlx::query_scalar("SELECT key_id FROM oauth_pending")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert!(left.len() >= 2);
        assert!(
            left.iter().all(|k| k.as_deref() == Some(new_only.key_id())),
            "{left:?}"
        );

        // A service with only the new key calls X with the rotated tokens.
        let mut vars = vars_for(&url, &app.fake);
        vars.insert("XADS_ENCRYPTION_KEY".into(), NEW_KEY.into());
        vars.insert("X_ADS_LIVE_MODE".into(), "true".into());
        let service = Application::build(Config::from_vars(&vars).unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", service.local_addr());
        let server = tokio::spawn(service.run(std::future::pending()));
        let resp = crate::http_client()
            .post(format!(
                "{base}/api/v1/x_ads/accounts/{}/campaigns",
                c.account
            ))
            .bearer_auth(key)
            .json(
                &json!({"name": "After rotation", "funding_instrument_id": c.fi,
                "daily_budget_amount_local_micro": 5_000_000}),
            )
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert_eq!(status, 201, "{}", resp.text().await.unwrap_or_default());
        let w = c.last_write();
        assert_eq!(w.path, format!("/12/accounts/{}/campaigns", c.account));
        assert_eq!(
            w.header("authorization"),
            Some(format!("Bearer {}", before.0).as_str())
        );
        server.abort();
    }
}

async fn run_rotate(db: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xads"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", db)
        .args(["keys", "rotate"])
        .args(args)
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_rotate_command_takes_the_old_key_from_the_environment_or_a_private_file() {
    let db = xads::testing::sqlite_url();
    let (app, _key) = crate::helpers::TestApp::dry_run_connected(&db).await;
    let old = vars_for(&db, &app.fake)["XADS_ENCRYPTION_KEY"].clone();
    // No old key: refused, naming where to give it.
    let (ok, _, err) = run_rotate(&db, &[("XADS_ENCRYPTION_KEY", NEW_KEY)], &[]).await;
    assert!(!ok && err.contains("XADS_OLD_ENCRYPTION_KEY"), "{err}");
    // An old-key file others may read: refused with the fix.
    let dir = std::env::temp_dir().join(format!("xads-rotate-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("old.key");
    std::fs::write(&file, &old).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, _, err) = run_rotate(
            &db,
            &[("XADS_ENCRYPTION_KEY", NEW_KEY)],
            &["--old-key-file", file.to_str().unwrap()],
        )
        .await;
        assert!(!ok && err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (ok, out, err) = run_rotate(
        &db,
        &[("XADS_ENCRYPTION_KEY", NEW_KEY)],
        &["--old-key-file", file.to_str().unwrap(), "--limit", "1"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("re-sealed 1 secret(s)") && out.contains("again"),
        "{out}"
    );
    let env = [
        ("XADS_ENCRYPTION_KEY", NEW_KEY),
        ("XADS_OLD_ENCRYPTION_KEY", old.as_str()),
    ];
    let (ok, out, err) = run_rotate(&db, &env, &[]).await;
    assert!(ok && out.contains("0 left"), "{out} {err}");
    let (ok, out, _) = run_rotate(&db, &env, &[]).await;
    assert!(
        ok && out.contains("re-sealed 0 secret(s)") && out.contains("0 left"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
