//! X API v2 chunked upload and Media Library registration.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use xads_fake::{FaultKind, FaultRule};

use crate::support::{T, answer};

async fn init(t: &T, media_type: &str, total: usize, category: &str) -> (String, String) {
    let r = t
        .http
        .post(t.url("/2/media/upload/initialize"))
        .bearer_auth(&t.token)
        .json(
            &json!({ "media_type": media_type, "total_bytes": total, "media_category": category }),
        )
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["data"]["expires_after_secs"].as_i64().unwrap() > 0);
    (
        a.body["data"]["id"].as_str().unwrap().to_string(),
        a.body["data"]["media_key"].as_str().unwrap().to_string(),
    )
}

async fn append(t: &T, id: &str, index: u32, bytes: Vec<u8>) -> u16 {
    let form = Form::new()
        .text("segment_index", index.to_string())
        .part("media", Part::bytes(bytes).file_name("chunk"));
    t.http
        .post(t.url(&format!("/2/media/upload/{id}/append")))
        .bearer_auth(&t.token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn finalize(t: &T, id: &str) -> (u16, Value) {
    let r = t
        .http
        .post(t.url(&format!("/2/media/upload/{id}/finalize")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    (a.status.as_u16(), a.body)
}

async fn status(t: &T, id: &str) -> Value {
    t.get(
        "/2/media/upload",
        &[("command", "STATUS"), ("media_id", id)],
    )
    .await
    .body
}

#[tokio::test]
async fn image_upload_then_media_library_registration() {
    let t = T::new().await;
    let (id, key) = init(&t, "image/png", 10, "tweet_image").await;
    assert_eq!(key, format!("3_{id}"));
    assert_eq!(append(&t, &id, 0, vec![1; 6]).await, 200);
    assert_eq!(append(&t, &id, 1, vec![2; 4]).await, 200);
    let (s, body) = finalize(&t, &id).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"]["media_key"], key);
    assert_eq!(body["data"]["size"], 10);
    assert!(
        body["data"].get("processing_info").is_none(),
        "images are ready at once"
    );

    let lib = format!("/12/accounts/{}/media_library", t.usd());
    let r = t.post(&lib, &[("media_key", &key), ("name", "hero")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["media_type"], "IMAGE");
    assert_eq!(r.body["data"]["media_category"], "TWEET_IMAGE");
    assert_eq!(r.body["data"]["media_status"], "TRANSCODE_COMPLETED");
    assert_eq!(r.body["data"]["name"], "hero");
    let one = t.get(&format!("{lib}/{key}"), &[]).await;
    assert_eq!(one.body["data"]["media_key"], key);
    let put = t.put(&format!("{lib}/{key}"), &[("name", "renamed")]).await;
    assert_eq!(put.body["data"]["name"], "renamed");
    let list = t.get(&lib, &[("count", "51")]).await;
    assert_eq!(
        list.error_parameter(),
        "count",
        "media library max count is 50"
    );
    let del = t.delete(&format!("{lib}/{key}"), &[]).await;
    assert_eq!(del.body["data"]["deleted"], true);
}

#[tokio::test]
async fn video_processing_goes_pending_in_progress_succeeded() {
    let t = T::new().await;
    let (id, key) = init(&t, "video/mp4", 8, "amplify_video").await;
    assert!(key.starts_with("13_"));
    append(&t, &id, 0, vec![0; 8]).await;
    let (_, body) = finalize(&t, &id).await;
    assert_eq!(body["data"]["processing_info"]["state"], "pending");
    assert_eq!(body["data"]["processing_info"]["check_after_secs"], 1);
    let lib = format!("/12/accounts/{}/media_library", t.usd());
    let early = t.post(&lib, &[("media_key", &key)]).await;
    assert_eq!(early.status, 400);
    assert_eq!(early.error_code(), "INVALID_MEDIA");
    assert_eq!(
        status(&t, &id).await["data"]["processing_info"]["state"],
        "in_progress"
    );
    assert_eq!(
        status(&t, &id).await["data"]["processing_info"]["state"],
        "succeeded"
    );
    let r = t.post(&lib, &[("media_key", &key)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["media_type"], "VIDEO");
    assert_eq!(r.body["data"]["media_category"], "AMPLIFY_VIDEO");
}

#[tokio::test]
async fn processing_failure_fault_size_mismatch_and_unknown_keys() {
    let t = T::new().await;
    let (id, _) = init(&t, "video/mp4", 4, "amplify_video").await;
    append(&t, &id, 0, vec![0; 4]).await;
    t.fake.add_fault(
        FaultRule::new(
            None,
            "/2/media/upload",
            FaultKind::MediaProcessingFailed {
                message: "bad codec".into(),
            },
        )
        .times(1),
    );
    let (_, body) = finalize(&t, &id).await;
    assert_eq!(body["data"]["processing_info"]["state"], "pending");
    status(&t, &id).await;
    let last = status(&t, &id).await;
    assert_eq!(last["data"]["processing_info"]["state"], "failed");
    assert_eq!(
        last["data"]["processing_info"]["error"]["message"],
        "bad codec"
    );

    let (id, _) = init(&t, "image/gif", 10, "tweet_gif").await;
    append(&t, &id, 0, vec![0; 3]).await;
    assert_eq!(finalize(&t, &id).await.0, 400, "total bytes must match");

    let r = t
        .post(
            &format!("/12/accounts/{}/media_library", t.usd()),
            &[("media_key", "3_123")],
        )
        .await;
    assert_eq!((r.status.as_u16(), r.error_code()), (400, "INVALID_MEDIA"));
    let anon = t
        .http
        .post(t.url("/2/media/upload/initialize"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
}

#[tokio::test]
async fn gif_keys_use_prefix_16() {
    let t = T::new().await;
    let (id, key) = init(&t, "image/gif", 3, "tweet_gif").await;
    assert_eq!(key, format!("16_{id}"));
}

#[tokio::test]
async fn single_url_command_forms_and_one_shot_upload() {
    let t = T::new().await;
    let url = t.url("/2/media/upload");
    let init = t
        .http
        .post(&url)
        .bearer_auth(&t.token)
        .form(&[
            ("command", "INIT"),
            ("media_type", "image/jpeg"),
            ("total_bytes", "5"),
            ("media_category", "tweet_image"),
        ])
        .send()
        .await
        .unwrap();
    let init = answer(init).await;
    let id = init.body["data"]["id"].as_str().unwrap().to_string();
    let form = Form::new()
        .text("command", "APPEND")
        .text("media_id", id.clone())
        .text("segment_index", "0")
        .part("media", Part::bytes(vec![9; 5]));
    let r = t
        .http
        .post(&url)
        .bearer_auth(&t.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fin = t
        .http
        .post(&url)
        .bearer_auth(&t.token)
        .query(&[("command", "FINALIZE"), ("media_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let fin = answer(fin).await;
    assert_eq!(fin.status, 200, "{}", fin.body);
    assert!(
        fin.body["data"]["media_key"]
            .as_str()
            .unwrap()
            .starts_with("3_")
    );

    let form = Form::new()
        .text("media_category", "tweet_image")
        .part("media", Part::bytes(vec![1; 7]));
    let one = answer(
        t.http
            .post(&url)
            .bearer_auth(&t.token)
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["data"]["size"], 7);
    let key = one.body["data"]["media_key"].as_str().unwrap().to_string();
    let lib = t
        .post(
            &format!("/12/accounts/{}/media_library", t.usd()),
            &[("media_key", &key)],
        )
        .await;
    assert_eq!(lib.status, 200);
}

#[tokio::test]
async fn an_append_segment_over_5_mb_is_refused_and_the_upload_stays_open() {
    let t = T::new().await;
    let limit = xads_fake::media::MAX_SEGMENT_BYTES as usize;
    let (id, _) = init(&t, "video/mp4", limit + 1, "amplify_video").await;
    assert_eq!(append(&t, &id, 0, vec![0; limit + 1]).await, 400);
    assert_eq!(append(&t, &id, 0, vec![0; limit]).await, 200);
    assert_eq!(append(&t, &id, 1, vec![0; 1]).await, 200);
    let upload = t.fake.state().uploads().pop().unwrap();
    assert_eq!(
        upload.segments.into_iter().collect::<Vec<_>>(),
        [(0, limit as u64), (1, 1)]
    );
    assert_eq!(finalize(&t, &id).await.0, 200);
}
