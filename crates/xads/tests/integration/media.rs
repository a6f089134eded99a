//! Media library uploads against the fake X (PRODUCT.md §4.3, §5; issue #6): the v2 chunked
//! upload and the library call in order, validation before anything is sent, dry-run, processing
//! failures, retried chunks and retried requests.

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use xads_fake::{FaultKind, FaultRule};

use crate::helpers::TestApp;

/// A minimal valid PNG: signature, IHDR (1×1 RGB), one IDAT, IEND (CRCs are not checked).
pub(crate) fn png(seed: u8) -> Vec<u8> {
    png_with_data(vec![0x78, 0x9c, 0x63, seed, 0, 0, 1, 0, 1])
}

/// A 1×1 PNG whose one IDAT chunk is `idat` (its size sets the file's).
pub(crate) fn png_with_data(idat: Vec<u8>) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (&b"IHDR"[..], vec![0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]),
        (b"IDAT", idat),
        (b"IEND", vec![]),
    ] {
        v.extend((data.len() as u32).to_be_bytes());
        v.extend(kind);
        v.extend(&data);
        v.extend([0u8; 4]);
    }
    v
}

/// A minimal valid MP4: ftyp, an empty moov, and an mdat of `payload` bytes.
fn mp4(payload: usize, fill: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload + 64);
    v.extend(20u32.to_be_bytes());
    v.extend(b"ftypisom\0\0\x02\0isom");
    v.extend(8u32.to_be_bytes());
    v.extend(b"moov");
    v.extend(((payload + 8) as u32).to_be_bytes());
    v.extend(b"mdat");
    v.resize(v.len() + payload, fill);
    v
}

struct Ctx {
    app: TestApp,
    key: String,
    account: String,
}

async fn ctx(live: bool, db: &str) -> Ctx {
    let (app, key) = if live {
        TestApp::live_connected(db).await
    } else {
        TestApp::dry_run_connected(db).await
    };
    let seed = app.fake.state().seed_info();
    Ctx {
        account: seed.usd_account_id.clone(),
        key,
        app,
    }
}

impl Ctx {
    fn url(&self) -> String {
        format!(
            "{}/api/v1/x_ads/accounts/{}/media",
            self.app.base, self.account
        )
    }

    async fn post(&self, form: Form, idem: Option<&str>) -> (u16, Value, bool) {
        let mut req = self
            .app
            .http
            .post(self.url())
            .bearer_auth(&self.key)
            .multipart(form);
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let replayed = resp.headers().contains_key("idempotent-replayed");
        (status, resp.json().await.unwrap_or_default(), replayed)
    }

    async fn upload(&self, bytes: Vec<u8>, file_name: &str, mime: &str) -> (u16, Value) {
        let part = Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .unwrap();
        let (s, b, _) = self.post(Form::new().part("file", part), None).await;
        (s, b)
    }

    /// The media calls X received, in order, as short names.
    fn media_calls(&self) -> Vec<&'static str> {
        self.app
            .fake
            .state()
            .ledger()
            .iter()
            .filter_map(|e| match (e.method.as_str(), e.path.as_str()) {
                ("POST", "/2/media/upload/initialize") => Some("initialize"),
                ("POST", p) if p.ends_with("/append") => Some("append"),
                ("POST", p) if p.ends_with("/finalize") => Some("finalize"),
                ("GET", "/2/media/upload") => Some("status"),
                ("POST", p) if p.ends_with("/media_library") => Some("media_library"),
                _ => None,
            })
            .collect()
    }

    fn library_keys(&self) -> Vec<String> {
        self.app
            .fake
            .state()
            .media_library(&self.account)
            .into_iter()
            .filter(|m| !m.deleted)
            .map(|m| m.media_key)
            .collect()
    }
}

#[tokio::test]
async fn png_and_mp4_reach_the_media_library_through_the_chunked_upload() {
    for db in xads::testing::all_backend_urls().await {
        let c = ctx(true, &db).await;
        c.app.fake.state().clear_ledger();
        let part = Part::bytes(png(1))
            .file_name("launch/hero.png")
            .mime_str("image/png")
            .unwrap();
        let form = Form::new().text("name", "Hero image").part("file", part);
        let (status, img, _) = c.post(form, None).await;
        assert_eq!(status, 201, "{img}");
        let img_key = img["media_key"].as_str().unwrap().to_owned();
        assert!(img_key.starts_with("3_"), "{img_key}");
        assert_eq!(img["id"], img["media_key"]);
        assert_eq!(img["dry_run"], false);
        assert_eq!(img["media_type"], "IMAGE");
        assert_eq!(img["name"], "Hero image");
        assert_eq!(img["file_name"], "hero.png");
        // An image is processed at finalize: no STATUS poll.
        assert_eq!(
            c.media_calls(),
            ["initialize", "append", "finalize", "media_library"]
        );
        let ledger = c.app.fake.state().ledger();
        let init = ledger
            .iter()
            .find(|e| e.path == "/2/media/upload/initialize")
            .unwrap();
        let init: Value = serde_json::from_slice(&init.body).unwrap();
        assert_eq!(init["media_type"], "image/png");
        assert_eq!(init["media_category"], "tweet_image");
        assert_eq!(init["total_bytes"], png(1).len());
        let register = ledger
            .iter()
            .find(|e| e.path.ends_with("/media_library"))
            .unwrap();
        assert_eq!(register.query_param("media_key"), Some(img_key.as_str()));
        assert_eq!(register.query_param("name"), Some("Hero image"));
        assert!(register.header("idempotency-key").is_some());
        // Every write to X carries an Idempotency-Key, the upload calls included.
        assert!(
            ledger
                .iter()
                .filter(|e| e.method == "POST")
                .all(|e| e.header("idempotency-key").is_some_and(|k| !k.is_empty())),
            "{:?}",
            ledger.iter().map(|e| &e.path).collect::<Vec<_>>()
        );

        // A 9 MB video: three segments of at most 4 MiB, then processing polled to success.
        c.app.fake.state().clear_ledger();
        let video = mp4(9_000_000, 3);
        let part = Part::bytes(video.clone())
            .file_name("spot.mp4")
            .mime_str("video/mp4")
            .unwrap();
        let form = Form::new()
            .part("file", part)
            .text("title", "Spring spot")
            .text("description", "Thirty seconds of spring");
        let (status, vid, _) = c.post(form, None).await;
        assert_eq!(status, 201, "{vid}");
        let vid_key = vid["media_key"].as_str().unwrap().to_owned();
        assert!(vid_key.starts_with("13_"), "amplify_video key: {vid_key}");
        assert_eq!(vid["media_type"], "VIDEO");
        assert_eq!(vid["media_category"], "AMPLIFY_VIDEO");
        assert_eq!(vid["title"], "Spring spot");
        assert_eq!(
            c.media_calls(),
            [
                "initialize",
                "append",
                "append",
                "append",
                "finalize",
                "status",
                "status",
                "media_library"
            ]
        );
        let upload = c.app.fake.state().uploads().pop().unwrap();
        assert_eq!(upload.media_key, vid_key);
        assert_eq!(upload.media_category, "amplify_video");
        assert_eq!(upload.total_bytes, video.len() as u64);
        let segments: Vec<(u32, u64)> = upload.segments.into_iter().collect();
        let chunk = 4 * 1024 * 1024;
        assert_eq!(
            segments,
            [(0, chunk), (1, chunk), (2, video.len() as u64 - 2 * chunk)]
        );

        let keys = c.library_keys();
        assert!(
            keys.contains(&img_key) && keys.contains(&vid_key),
            "{keys:?}"
        );
        let (status, list) = c
            .app
            .get(
                &c.key,
                &format!("/api/v1/x_ads/accounts/{}/media", c.account),
            )
            .await;
        assert_eq!(status, 200);
        let listed: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["media_key"].as_str().unwrap())
            .collect();
        assert!(listed.contains(&img_key.as_str()) && listed.contains(&vid_key.as_str()));
        // The fake's seeded entries came in through the read-through too.
        assert!(listed.len() > 2, "{listed:?}");

        // The same file again: the existing entry, nothing sent.
        c.app.fake.state().clear_ledger();
        let (status, again) = c.upload(png(1), "copy.png", "image/png").await;
        assert_eq!(
            (status, again["media_key"].clone()),
            (200, img["media_key"].clone())
        );
        assert!(c.media_calls().is_empty());
    }
}

#[tokio::test]
async fn bad_files_are_refused_before_anything_reaches_x() {
    let c = ctx(true, &xads::testing::sqlite_url()).await;
    c.app.fake.state().clear_ledger();
    let mut truncated_png = png(1);
    truncated_png.truncate(truncated_png.len() - 12);
    let mut bad_boxes = mp4(1000, 1);
    bad_boxes.truncate(bad_boxes.len() - 10);
    let mut oversize = png(1);
    oversize.resize(5 * 1024 * 1024 + 1, 0);
    let cases: Vec<(Vec<u8>, &str, &str, u16, &str)> = vec![
        (png(1), "a.png", "image/jpeg", 422, "declared as JPEG"),
        (
            png(1),
            "a.jpg",
            "application/octet-stream",
            422,
            "file name",
        ),
        (mp4(100, 1), "a.png", "image/png", 422, "content is MP4"),
        (
            b"hello, world".to_vec(),
            "a.png",
            "image/png",
            415,
            "not a PNG",
        ),
        (vec![], "a.png", "image/png", 422, "empty"),
        (truncated_png, "a.png", "image/png", 422, "IEND"),
        (bad_boxes, "a.mp4", "video/mp4", 422, "boxes"),
        (
            png(1),
            "upload",
            "application/octet-stream",
            422,
            "not declared",
        ),
        (oversize, "big.png", "image/png", 413, "5 MB"),
    ];
    for (bytes, name, mime, want, text) in cases {
        let (status, body) = c.upload(bytes, name, mime).await;
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(status, want, "{name} as {mime}: {body}");
        assert!(message.contains(text), "{name} as {mime}: {message}");
    }
    // Form problems.
    let (status, body, _) = c.post(Form::new().text("name", "no file"), None).await;
    assert_eq!(status, 422, "{body}");
    let part = Part::bytes(png(1))
        .file_name("a.png")
        .mime_str("image/png")
        .unwrap();
    let form = Form::new().part("file", part).text("title", "t".repeat(71));
    let (status, body, _) = c.post(form, None).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, "title".into())
    );
    let part = Part::bytes(png(1))
        .file_name("a.png")
        .mime_str("image/png")
        .unwrap();
    let form = Form::new().part("file", part).text("name", "x".repeat(101));
    assert_eq!(c.post(form, None).await.0, 422);
    let resp = c
        .app
        .http
        .post(c.url())
        .bearer_auth(&c.key)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Another tenant's (or an unknown) account.
    let other = format!("{}/api/v1/x_ads/accounts/{}/media", c.app.base, "nope");
    let part = Part::bytes(png(1)).file_name("a.png");
    let resp = c
        .app
        .http
        .post(other)
        .bearer_auth(&c.key)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    assert!(c.media_calls().is_empty(), "{:?}", c.media_calls());
    assert!(c.app.x_writes().is_empty(), "no write reached X");
}

#[tokio::test]
async fn dry_run_validates_stores_locally_and_sends_nothing() {
    let c = ctx(false, &xads::testing::sqlite_url()).await;
    let before = c.library_keys();
    c.app.fake.state().clear_ledger();
    let (status, body) = c.upload(png(2), "dry.png", "image/png").await;
    assert_eq!(status, 201, "{body}");
    let key = body["media_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("dry_"), "{key}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["media_category"], "TWEET_IMAGE");
    // Invalid input is refused exactly as in live mode.
    assert_eq!(c.upload(png(2), "dry.png", "image/gif").await.0, 422);
    assert!(c.media_calls().is_empty());
    assert!(c.app.x_writes().is_empty(), "no write reached X");
    assert_eq!(c.library_keys(), before);
    let (_, again) = c.upload(png(2), "dry.png", "image/png").await;
    assert_eq!(again["media_key"], key.as_str());
    let (status, list) = c
        .app
        .get(
            &c.key,
            &format!("/api/v1/x_ads/accounts/{}/media", c.account),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["media_key"] == key.as_str() && m["dry_run"] == true)
    );
}

#[tokio::test]
async fn a_processing_failure_answers_x_text_and_registers_nothing() {
    let c = ctx(true, &xads::testing::sqlite_url()).await;
    c.app.fake.state().add_fault(FaultRule::new(
        Some("GET"),
        "/2/media/upload",
        FaultKind::MediaProcessingFailed {
            message: "Video codec not supported".into(),
        },
    ));
    c.app.fake.state().clear_ledger();
    let video = mp4(2000, 9);
    let (status, body) = c.upload(video.clone(), "bad.mp4", "video/mp4").await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Video codec not supported"), "{message}");
    assert!(!c.media_calls().contains(&"media_library"));
    // After the failure the same file may be tried again (a fresh upload session).
    c.app.fake.state().clear_faults();
    let (status, body) = c.upload(video, "bad.mp4", "video/mp4").await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn a_failed_chunk_is_retried_and_retried_requests_make_one_entry() {
    let c = ctx(true, &xads::testing::sqlite_url()).await;
    let state = c.app.fake.state();
    // Upload ids are sequential with a fixed step: learn it from two uploads to aim a fault at
    // the third upload's first append.
    for seed in [10, 11] {
        assert_eq!(c.upload(png(seed), "a.png", "image/png").await.0, 201);
    }
    let ids: Vec<u64> = state
        .uploads()
        .iter()
        .map(|u| u.id.parse().unwrap())
        .collect();
    let next = ids[1] + (ids[1] - ids[0]);
    state.add_fault(
        FaultRule::new(
            Some("POST"),
            &format!("/2/media/upload/{next}/append"),
            FaultKind::InternalError,
        )
        .times(1),
    );
    // And the library call's answer is lost after X committed it.
    state.add_fault(
        FaultRule::new(
            Some("POST"),
            &format!("/12/accounts/{}/media_library", c.account),
            FaultKind::DropAfterCommit,
        )
        .times(1),
    );
    state.clear_ledger();
    let video = mp4(5_000_000, 4);
    let before = c.library_keys().len();
    let part = Part::bytes(video.clone())
        .file_name("retry.mp4")
        .mime_str("video/mp4")
        .unwrap();
    let (status, body, replayed) = c
        .post(Form::new().part("file", part), Some("upload-1"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!replayed);
    let calls = c.media_calls();
    assert_eq!(
        calls.iter().filter(|c| **c == "append").count(),
        3,
        "two segments, the first sent twice: {calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| **c == "initialize").count(), 1);
    let upload = state.uploads().pop().unwrap();
    assert_eq!(upload.id, next.to_string());
    assert_eq!(upload.segments.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(c.library_keys().len(), before + 1);

    // The dashboard retries: with the same key it gets the stored answer; without a key the
    // same file answers the existing entry. Either way nothing more reaches X.
    state.clear_ledger();
    let part = Part::bytes(video.clone())
        .file_name("retry.mp4")
        .mime_str("video/mp4")
        .unwrap();
    let (status, again, replayed) = c
        .post(Form::new().part("file", part), Some("upload-1"))
        .await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again["media_key"], body["media_key"]);
    let (status, again) = c.upload(video, "retry.mp4", "video/mp4").await;
    assert_eq!(status, 200);
    assert_eq!(again["media_key"], body["media_key"]);
    assert!(c.media_calls().is_empty(), "{:?}", c.media_calls());
    assert_eq!(c.library_keys().len(), before + 1);
}

#[tokio::test]
async fn an_image_keeps_its_title_and_description_here_and_x_gets_only_what_it_takes() {
    let c = ctx(true, &xads::testing::sqlite_url()).await;
    let part = Part::bytes(png(7))
        .file_name("banner.png")
        .mime_str("image/png")
        .unwrap();
    let form = Form::new()
        .part("file", part)
        .text("name", "Banner")
        .text("title", "Spring banner")
        .text("description", "Hero image of the spring campaign");
    let (status, body, _) = c.post(form, None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["title"], "Spring banner");
    assert_eq!(body["description"], "Hero image of the spring campaign");
    // X's media_library call carried neither (X takes them for videos only).
    let register = c
        .app
        .fake
        .state()
        .ledger()
        .into_iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/media_library"))
        .expect("the entry was registered at X");
    let sent = format!("{} {}", register.query, register.body_text);
    assert!(
        !sent.contains("title") && !sent.contains("description"),
        "{sent}"
    );
    // A read-through from X keeps ours.
    let resp = c
        .app
        .http
        .get(format!("{}?refresh=true", c.url()))
        .bearer_auth(&c.key)
        .send()
        .await
        .unwrap();
    let list: Value = resp.json().await.unwrap();
    let entry = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "Banner")
        .expect("listed");
    assert_eq!(entry["title"], "Spring banner", "{entry}");
    assert_eq!(entry["description"], "Hero image of the spring campaign");
}

impl Ctx {
    async fn delete(&self, media_key: &str, idem: Option<&str>) -> (u16, Value, bool) {
        let mut req = self
            .app
            .http
            .delete(format!("{}/{media_key}", self.url()))
            .bearer_auth(&self.key);
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let replayed = resp.headers().contains_key("idempotent-replayed");
        (status, resp.json().await.unwrap_or_default(), replayed)
    }

    async fn listed(&self) -> Vec<String> {
        let (status, list) = self
            .app
            .get(
                &self.key,
                &format!("/api/v1/x_ads/accounts/{}/media", self.account),
            )
            .await;
        assert_eq!(status, 200, "{list}");
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["media_key"].as_str().unwrap().to_owned())
            .collect()
    }

    fn deletes_sent(&self) -> Vec<String> {
        self.app
            .fake
            .state()
            .ledger()
            .iter()
            .filter(|e| e.method == "DELETE" && e.path.contains("/media_library/"))
            .map(|e| e.path.clone())
            .collect()
    }
}

#[tokio::test]
async fn delete_removes_the_entry_at_x_and_from_the_list_once() {
    for db in xads::testing::all_backend_urls().await {
        let c = ctx(true, &db).await;
        let (status, body) = c.upload(png(7), "gone.png", "image/png").await;
        assert_eq!(status, 201, "{body}");
        let key = body["media_key"].as_str().unwrap().to_owned();
        assert!(c.library_keys().contains(&key));
        assert!(c.listed().await.contains(&key));

        let (status, gone, replayed) = c.delete(&key, Some("del-1")).await;
        assert_eq!(status, 200, "{gone}");
        assert!(!replayed);
        assert_eq!(gone["id"], key.as_str());
        assert_eq!(gone["deleted"], true);
        assert_eq!(gone["dry_run"], false);
        assert!(!c.library_keys().contains(&key), "deleted at X");
        assert!(!c.listed().await.contains(&key), "gone from the list");
        let sent = c.deletes_sent();
        assert_eq!(
            sent,
            vec![format!("/12/accounts/{}/media_library/{key}", c.account)]
        );

        // A retry with the same key answers the stored answer; nothing more is sent.
        let (status, again, replayed) = c.delete(&key, Some("del-1")).await;
        assert_eq!((status, replayed), (200, true), "{again}");
        assert_eq!(again, gone);
        // Without a key, the entry is simply not there any more.
        let (status, err, _) = c.delete(&key, None).await;
        assert_eq!(status, 404, "{err}");
        assert_eq!(err["error"]["code"], "not_found");
        assert_eq!(c.deletes_sent().len(), 1, "one DELETE reached X");
        // Unknown and malformed keys: 404, nothing sent.
        for bad in ["3_1", "not-a-key", "3_1%00"] {
            let (status, err, _) = c.delete(bad, None).await;
            assert_eq!(status, 404, "{bad}: {err}");
        }
        assert_eq!(c.deletes_sent().len(), 1);

        // The same file uploaded again makes a new entry.
        let (status, back) = c.upload(png(7), "gone.png", "image/png").await;
        assert_eq!(status, 201, "{back}");
        assert!(
            c.listed()
                .await
                .contains(&back["media_key"].as_str().unwrap().to_owned())
        );
    }
}

#[tokio::test]
async fn dry_run_delete_sends_nothing() {
    let c = ctx(false, &xads::testing::sqlite_url()).await;
    let (status, body) = c.upload(png(8), "dry.png", "image/png").await;
    assert_eq!(status, 201, "{body}");
    let dry_key = body["media_key"].as_str().unwrap().to_owned();
    let listed = c.listed().await;
    assert!(listed.contains(&dry_key));
    let at_x = c.library_keys();
    let real = listed
        .iter()
        .find(|k| !k.starts_with("dry_"))
        .expect("the seeded library is mirrored")
        .clone();
    c.app.fake.state().clear_ledger();

    // A dry-run entry is removed locally.
    let (status, gone, _) = c.delete(&dry_key, None).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(
        (gone["deleted"].clone(), gone["dry_run"].clone()),
        (true.into(), true.into())
    );
    assert!(!c.listed().await.contains(&dry_key));
    // An entry at X is answered as it would be deleted, and stays (at X and in the list).
    let (status, would, _) = c.delete(&real, None).await;
    assert_eq!(status, 200, "{would}");
    assert_eq!(
        (would["deleted"].clone(), would["dry_run"].clone()),
        (true.into(), true.into())
    );
    assert!(c.listed().await.contains(&real));
    assert_eq!(c.library_keys(), at_x);
    assert!(c.deletes_sent().is_empty(), "nothing reached X");
    assert!(c.app.x_writes().is_empty());
}
