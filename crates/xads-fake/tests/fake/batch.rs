//! Targeting criteria and the atomic batch endpoints.

use serde_json::json;

use crate::support::{T, answer};

#[tokio::test]
async fn targeting_criteria_create_list_delete() {
    let t = T::new().await;
    let a = t.fake.seed_info().accounts[0].clone();
    let base = format!("/12/accounts/{}/targeting_criteria", a.id);
    let missing = t.get(&base, &[]).await;
    assert_eq!(
        (missing.error_code(), missing.error_parameter()),
        ("MISSING_PARAMETER", "line_item_ids")
    );
    let li = &a.line_item_ids[0];
    let c = t
        .post(
            &base,
            &[
                ("line_item_id", li),
                ("targeting_type", "BROAD_KEYWORD"),
                ("targeting_value", "technology"),
            ],
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.body["data"]["targeting_type"], "BROAD_KEYWORD");
    assert_eq!(c.body["data"]["line_item_id"], *li);
    let bad = t
        .post(
            &base,
            &[
                ("line_item_id", li),
                ("targeting_type", "MOOD"),
                ("targeting_value", "x"),
            ],
        )
        .await;
    assert_eq!(bad.error_parameter(), "targeting_type");
    let list = t.get(&base, &[("line_item_ids", li)]).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    let id = c.body["data"]["id"].as_str().unwrap();
    let del = t.delete(&format!("{base}/{id}"), &[]).await;
    assert_eq!(del.body["data"]["deleted"], true);
    assert!(
        t.get(&base, &[("line_item_ids", li)]).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

async fn batch(t: &T, kind: &str, body: serde_json::Value) -> crate::support::Answer {
    let url = t.url(&format!("/12/batch/accounts/{}/{kind}", t.usd()));
    answer(
        t.http
            .post(url)
            .bearer_auth(&t.token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn batch_campaigns_apply_in_order_and_fail_atomically() {
    let t = T::new().await;
    let a = t.fake.seed_info().accounts[0].clone();
    let fi = a.funding_instrument_id.clone();
    let existing = a.campaign_ids[0].clone();
    let ok = batch(
        &t,
        "campaigns",
        json!([
            { "operation_type": "Create", "params": { "name": "b1", "funding_instrument_id": fi, "daily_budget_amount_local_micro": 5000000 } },
            { "operation_type": "Update", "params": { "campaign_id": existing, "entity_status": "PAUSED" } },
        ]),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body.get("data_type").is_none(),
        "X's batch campaigns example has no data_type: {}",
        ok.body
    );
    assert_eq!(ok.body["data"][0]["name"], "b1");
    assert_eq!(ok.body["data"][1]["entity_status"], "PAUSED");
    assert_eq!(ok.body["request"][1]["operation_type"], "Update");
    assert_eq!(ok.body["request"][0]["params"]["account_id"], a.id);

    let before = t.fake.counts(&a.id);
    let bad = batch(
        &t,
        "campaigns",
        json!([
            { "operation_type": "Create", "params": { "name": "b2", "funding_instrument_id": fi } },
            { "operation_type": "Create", "params": { "name": "b3" } },
        ]),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.get("errors").is_none());
    assert_eq!(bad.body["operation_errors"][0], json!([]));
    assert_eq!(
        bad.body["operation_errors"][1][0]["parameter"],
        "funding_instrument_id"
    );
    assert_eq!(
        t.fake.counts(&a.id),
        before,
        "nothing of a failed batch is applied"
    );

    let too_many: Vec<_> = (0..41).map(|i| json!({ "operation_type": "Create", "params": { "name": format!("n{i}"), "funding_instrument_id": fi } })).collect();
    let r = batch(&t, "campaigns", json!(too_many)).await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"].is_array());
}

#[tokio::test]
async fn batch_targeting_create_and_delete() {
    let t = T::new().await;
    let li = t.fake.seed_info().accounts[0].line_item_ids[0].clone();
    let first = batch(
        &t,
        "targeting_criteria",
        json!([{ "operation_type": "Create", "params": { "line_item_id": li, "targeting_type": "LOCATION", "targeting_value": "5122804691e5fecc" } }]),
    )
    .await;
    let id = first.body["data"][0]["id"].as_str().unwrap().to_string();
    let r = batch(
        &t,
        "targeting_criteria",
        json!([
            { "operation_type": "Create", "params": { "line_item_id": li, "targeting_type": "BROAD_KEYWORD", "targeting_value": "accounts" } },
            { "operation_type": "Delete", "params": { "targeting_criterion_id": id } },
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data_type"], "targeting_criterion");
    assert_eq!(r.body["data"][1]["deleted"], true);
    assert_eq!(r.body["data"][0]["operator_type"], "EQ");
}
