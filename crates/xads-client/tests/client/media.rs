//! X API v2 chunked media upload.

use bytes::Bytes;
use xads_client::RetryPolicy;
use xads_client::media::{MediaInit, ProcessingState};

use crate::stub::{Reply, Stub};

#[tokio::test]
async fn chunked_upload_round() {
    let stub = Stub::start(vec![
        Reply::json(
            200,
            r#"{"data":{"id":"1880028106020515840","media_key":"13_1880028106020515840","expires_after_secs":86400}}"#,
        ),
        Reply::json(200, r#"{"data":{"expires_at":1700000000}}"#),
        Reply::json(
            200,
            r#"{"data":{"id":"1880028106020515840","media_key":"13_1880028106020515840","size":1048576,"processing_info":{"state":"pending","check_after_secs":1}}}"#,
        ),
        Reply::json(
            200,
            r#"{"data":{"id":"1880028106020515840","media_key":"13_1880028106020515840","processing_info":{"state":"succeeded","progress_percent":100}}}"#,
        ),
    ])
    .await;
    let ads = stub.ads(RetryPolicy::default());
    let init = ads
        .media_initialize(&MediaInit {
            media_type: "video/mp4".into(),
            total_bytes: 1_048_576,
            media_category: "amplify_video".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        init.data.media_key.as_deref(),
        Some("13_1880028106020515840")
    );
    let id = init.data.id;
    ads.media_append(&id, 3, Bytes::from_static(b"CHUNK-BYTES"))
        .await
        .unwrap();
    let fin = ads.media_finalize(&id).await.unwrap();
    let info = fin.data.processing_info.unwrap();
    assert_eq!(info.state, ProcessingState::Pending);
    assert_eq!(info.check_after_secs, Some(1));
    let status = ads.media_status(&id).await.unwrap();
    let info = status.data.processing_info.unwrap();
    assert_eq!(info.state, ProcessingState::Succeeded);
    assert!(info.is_final());

    let reqs = stub.requests();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/2/media/upload/initialize");
    let body: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"media_type":"video/mp4","total_bytes":1048576,"media_category":"amplify_video"})
    );
    assert!(
        reqs[0]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ")
    );

    assert_eq!(reqs[1].path, "/2/media/upload/1880028106020515840/append");
    assert!(
        reqs[1]
            .header("content-type")
            .unwrap()
            .starts_with("multipart/form-data")
    );
    let multipart = reqs[1].body_str();
    assert!(multipart.contains("name=\"media\""));
    assert!(multipart.contains("CHUNK-BYTES"));
    assert!(
        multipart.contains("name=\"segment_index\"\r\n\r\n3\r\n"),
        "{multipart}"
    );

    assert_eq!(reqs[2].method, "POST");
    assert_eq!(reqs[2].path, "/2/media/upload/1880028106020515840/finalize");
    assert_eq!(reqs[3].method, "GET");
    assert_eq!(reqs[3].path, "/2/media/upload");
    assert_eq!(reqs[3].params()["command"], "STATUS");
    assert_eq!(reqs[3].params()["media_id"], "1880028106020515840");
}

#[tokio::test(start_paused = true)]
async fn an_append_is_retried_after_a_5xx() {
    // Re-sending a segment replaces it, so upload calls retry like reads.
    let stub = Stub::start(vec![Reply::html(503, "busy"), Reply::json(200, "{}")]).await;
    stub.ads(RetryPolicy::default())
        .media_append("42", 0, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn segment_index_is_checked() {
    let stub = Stub::start(vec![]).await;
    let err = stub
        .ads(RetryPolicy::none())
        .media_append("42", 1000, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("segment_index"));
    assert!(stub.requests().is_empty());
}
