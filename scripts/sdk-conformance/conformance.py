#!/usr/bin/env python3
"""SDK conformance run: X's official Python Ads SDK (twitter-ads 11.0.0, API version set to 12)
drives `xads fake-x` through what the service uses, and every step compares the keys of the
fake's answer with the matching fixture of X's real answers (shared/fixtures/x-ads-api).

Environment (what `xads fake-x` prints as `export FAKE_X_...`): FAKE_X_URL, FAKE_X_CONSUMER_KEY,
FAKE_X_CONSUMER_SECRET, FAKE_X_ACCESS_TOKEN, FAKE_X_ACCESS_TOKEN_SECRET, FAKE_X_ACCOUNT_ID,
FAKE_X_FOREIGN_ACCOUNT_ID; XADS_FIXTURES = the fixtures folder.

A key difference fails its step unless KNOWN explains it; docs/fake-x.md lists the same
differences with their sources. Exit status: 0 when every step passed, 1 otherwise.
"""

import datetime as dt
import json
import os
import sys
import traceback
from zoneinfo import ZoneInfo

import twitter_ads

# The SDK builds its resource paths from API_VERSION when its modules are imported: set it first.
twitter_ads.API_VERSION = "12"

from requests_oauthlib import OAuth1Session  # noqa: E402  (an SDK dependency)
from twitter_ads import http as sdk_http  # noqa: E402
from twitter_ads.campaign import (  # noqa: E402
    Campaign,
    FundingInstrument,
    LineItem,
    TargetingCriteria,
)
from twitter_ads.client import Client  # noqa: E402
from twitter_ads.creative import MediaLibrary, PromotedTweet, Tweets  # noqa: E402
from twitter_ads.enum import GRANULARITY, METRIC_GROUP, PLACEMENT  # noqa: E402
from twitter_ads.error import BadRequest, Forbidden, NotAuthorized, NotFound  # noqa: E402
from twitter_ads.http import Request  # noqa: E402

URL = os.environ["FAKE_X_URL"].rstrip("/")
FIXTURES = os.environ.get("XADS_FIXTURES", "")
ACCOUNT_ID = os.environ["FAKE_X_ACCOUNT_ID"]
FOREIGN_ID = os.environ["FAKE_X_FOREIGN_ACCOUNT_ID"]
CREDS = (
    os.environ["FAKE_X_CONSUMER_KEY"],
    os.environ["FAKE_X_CONSUMER_SECRET"],
    os.environ["FAKE_X_ACCESS_TOKEN"],
    os.environ["FAKE_X_ACCESS_TOKEN_SECRET"],
)

# Point the SDK's host at the fake (the SDK hard-codes https://ads-api.twitter.com).
sdk_http.Request._DEFAULT_DOMAIN = URL

# Every answer the SDK receives, in order: the run compares raw bodies, not the SDK's objects.
ANSWERS = []
_perform = Request.perform


def _recording_perform(self):
    try:
        response = _perform(self)
    except Exception as e:  # the SDK raises on >= 400; keep the body for the error steps
        ANSWERS.append(getattr(getattr(e, "response", None), "body", None))
        raise
    ANSWERS.append(response.body)
    return response


Request.perform = _recording_perform

# Differences between the fake's keys and a fixture's that are X's own or documented, with the
# source. (step, "missing" | "extra", key) -> why. docs/fake-x.md lists the same.
KNOWN = {
    ("tweets", "extra", "name"): "docs creatives reference GET accounts/:id/tweets (v12 example) has it; the 2019 SDK fixture predates it",
    ("tweets", "extra", "id_str"): "docs creatives reference GET accounts/:id/tweets (v12 example) has it",
    ("tweets", "extra", "conversation_settings"): "docs creatives reference GET accounts/:id/tweets (v12 example; v8+)",
    ("error envelope", "missing", "details"): "optional per shared/docs/x-ads-api.md §1 (error envelope)",
    ("error envelope", "missing", "value"): "optional per shared/docs/x-ads-api.md §1 (error envelope)",
    ("account load", "extra", "industry_type"): "account object field per docs campaign-management reference (x-ads-api.md §4 Accounts); the example omits it",
    ("accounts", "extra", "industry_type"): "account object field per docs campaign-management reference (x-ads-api.md §4 Accounts); the example omits it",
}
# X's own DELETE example for line items leaves out fields every other v12 line-item example
# has (docs-x line_items_delete vs line_items_get_one): the fake answers the full object.
for _k in [
    "android_app_store_identifier",
    "automatic_tweet_promotion",
    "daily_budget_amount_local_micro",
    "ios_app_store_identifier",
    "standard_delivery",
]:
    KNOWN[("line item delete", "extra", _k)] = (
        "docs-x line_items_delete omits it; docs-x line_items_get_one/put have it"
    )

RESULTS = []  # (step, ok, notes)


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def keys(x):
    if isinstance(x, list):
        out = set()
        for item in x:
            if isinstance(item, dict):
                out |= set(item)
        return out
    return set(x) if isinstance(x, dict) else set()


def compare(step, name, answer, dig=lambda b: b["data"], envelope=True):
    """Compares data keys (and envelope keys) of `answer` with fixture `name`; returns notes."""
    fx = fixture(name)
    problems, explained = [], []
    pairs = [("data", keys(dig(fx)), keys(dig(answer)))]
    if envelope:
        pairs.append(("envelope", set(fx), set(answer)))
    for where, want, got in pairs:
        for kind, ks in (("missing", want - got), ("extra", got - want)):
            for k in sorted(ks):
                why = KNOWN.get((step, kind, k))
                if why:
                    explained.append(f"{kind} {k} ({why})")
                else:
                    problems.append(f"{where}: {kind} key {k!r} vs {name}")
    if problems:
        raise AssertionError("; ".join(problems))
    return explained


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def step(name):
    def run(f):
        ANSWERS.clear()
        try:
            notes = f() or []
            RESULTS.append((name, True, notes))
            print(f"PASS  {name}" + "".join(f"\n        note: {n}" for n in notes))
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            RESULTS.append((name, False, [str(e)]))
            print(f"FAIL  {name}: {e}")
            if os.environ.get("CONFORMANCE_TRACE"):
                traceback.print_exc()
        return f

    return run


def skip(name, why):
    RESULTS.append((name, None, [why]))
    print(f"SKIP  {name}: {why}")


client = Client(*CREDS)
check(Campaign.RESOURCE_COLLECTION.startswith("/12/"), "the SDK was not switched to API 12")
state = {}


def floor_hour(t):
    return t.replace(minute=0, second=0, microsecond=0)


NOW = floor_hour(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


@step("accounts")
def _():
    accounts = list(client.accounts())
    check(any(a.id == ACCOUNT_ID for a in accounts), f"{ACCOUNT_ID} not listed")
    check(all(a.id != FOREIGN_ID for a in accounts), "another user's account is listed")
    return compare("accounts", "docs-x__accounts_get_all.json", ANSWERS[0])


@step("account load")
def _():
    state["account"] = client.accounts(ACCOUNT_ID)
    state["seeded_line_item"] = next(iter(state["account"].line_items()))
    check(state["account"].timezone, "no timezone")
    return compare("account load", "docs-x__accounts_get_one.json", ANSWERS[0])


@step("funding instruments")
def _():
    account = state["account"]
    fis = list(account.funding_instruments())
    check(fis and fis[0].currency == "USD", "no USD funding instrument")
    state["fi"] = fis[0].id
    notes = compare("funding instruments", "docs-x__funding_instruments_get_all.json", ANSWERS[0])
    ANSWERS.clear()
    account.funding_instruments(fis[0].id)
    return notes + compare(
        "funding instrument load", "docs-x__funding_instruments_get_one.json", ANSWERS[0]
    )


@step("campaigns with cursor paging")
def _():
    account = state["account"]
    paged = [c.id for c in account.campaigns(count=2)]
    pages = len(ANSWERS)
    check(pages >= 2, f"count=2 over {len(paged)} campaigns took {pages} page(s)")
    check(len(set(paged)) == len(paged), "a campaign came twice across pages")
    for body in ANSWERS[:-1]:
        check(len(body["data"]) == 2 and body["next_cursor"], "a full page without next_cursor")
    check(ANSWERS[-1]["next_cursor"] is None, "the last page has a next_cursor")
    ANSWERS.clear()
    everything = [c.id for c in account.campaigns(count=1000)]
    check(sorted(everything) == sorted(paged), "paging lost or invented campaigns")
    return compare("campaigns", "docs-x__campaigns_get_all.json", ANSWERS[0])


@step("campaign create, load, update (servability)")
def _():
    account = state["account"]
    c = Campaign(account)
    c.name = "sdk conformance"
    c.funding_instrument_id = state["fi"]
    c.daily_budget_amount_local_micro = 140000000
    c.entity_status = "PAUSED"
    c.save()
    state["campaign"] = c
    notes = compare("campaign create", "docs-x__campaigns_post.json", ANSWERS[-1])
    d = ANSWERS[-1]["data"]
    check(
        (d["effective_status"], d["servable"], d["reasons_not_servable"])
        == ("UNKNOWN", False, ["PAUSED_BY_ADVERTISER", "INCOMPLETE"]),
        f"a new PAUSED campaign answered {d['effective_status']} {d['reasons_not_servable']}",
    )
    ANSWERS.clear()
    account.campaigns(c.id)
    notes += compare("campaign load", "docs-x__campaigns_get_one.json", ANSWERS[-1])
    ANSWERS.clear()
    c.daily_budget_amount_local_micro = 150000000
    c.save()
    check(ANSWERS[-1]["data"]["daily_budget_amount_local_micro"] == 150000000, "PUT lost")
    return notes + compare("campaign update", "docs-x__campaigns_put.json", ANSWERS[-1])


@step("line item create, load, list, update (X's defaults)")
def _():
    account = state["account"]
    # The docs' own request. (LineItem.save() cannot send a daily budget: SDK 11 has no such
    # line-item property; create() sends any parameter.)
    li = LineItem.create(
        account,
        campaign_id=state["campaign"].id,
        objective="ENGAGEMENTS",
        product_type="PROMOTED_TWEETS",
        placements=[PLACEMENT.ALL_ON_TWITTER],
        bid_amount_local_micro=3210000,
        daily_budget_amount_local_micro=1000000,
        entity_status="PAUSED",
        start_time=(NOW + dt.timedelta(days=1)).strftime("%Y-%m-%d"),
    )
    state["line_item"] = li
    notes = compare("line item create", "docs-x__line_items_post.json", ANSWERS[-1])
    d = ANSWERS[-1]["data"]
    got = (d["bid_strategy"], d["goal"], d["pay_by"], d["standard_delivery"])
    check(got == ("MAX", "ENGAGEMENT", "ENGAGEMENT", True), f"defaults {got}")
    ANSWERS.clear()
    account.line_items(li.id)
    notes += compare("line item load", "docs-x__line_items_get_one.json", ANSWERS[-1])
    ANSWERS.clear()
    listed = [x.id for x in account.line_items(campaign_ids=state["campaign"].id)]
    check(listed == [li.id], f"campaign_ids filter answered {listed}")
    notes += compare("line items", "docs-x__line_items_get_all.json", ANSWERS[-1])
    ANSWERS.clear()
    li.bid_amount_local_micro = 140000
    li.save()
    notes += compare("line item update", "docs-x__line_items_put.json", ANSWERS[-1])
    ANSWERS.clear()
    account.campaigns(state["campaign"].id)
    d = ANSWERS[-1]["data"]
    check(
        (d["effective_status"], d["reasons_not_servable"]) == ("PAUSED", ["PAUSED_BY_ADVERTISER"]),
        f"with a line item the PAUSED campaign answers {d['effective_status']} {d['reasons_not_servable']}",
    )
    return notes


@step("targeting criteria")
def _():
    account = state["account"]
    t = TargetingCriteria(account)
    t.line_item_id = state["line_item"].id
    t.targeting_type = "BROAD_KEYWORD"
    t.targeting_value = "technology"
    t.save()
    check(ANSWERS[-1]["data"]["name"] == "technology", "a keyword is named after itself")
    notes = compare("targeting criterion create", "docs-x__targeting_criteria_post.json", ANSWERS[-1])
    ANSWERS.clear()
    listed = list(state["line_item"].targeting_criteria())
    check([x.id for x in listed] == [t.id], "the criterion is not listed")
    return notes + compare("targeting criteria", "docs-x__targeting_criteria_get_all.json", ANSWERS[-1])


@step("tweets (count, cursor, tweet_type)")
def _():
    account = state["account"]
    tweets = list(Tweets.all(account, tweet_type="PUBLISHED", count=2, trim_user=True))
    check(len(ANSWERS) >= 2, "count=2 did not page")
    check(len(tweets) >= 3 and len({t["id_str"] for t in tweets}) == len(tweets), "paging")
    state["tweets"] = [t["id_str"] for t in tweets]
    notes = compare("tweets", "python-sdk__tweets_get.json", ANSWERS[0])
    ANSWERS.clear()
    check(list(Tweets.all(account, tweet_type="DRAFT")) == [], "drafts listed published tweets")
    try:
        Tweets.all(account)
        raise AssertionError("tweet_type is required, yet the fake answered without it")
    except BadRequest as e:
        check(e.details[0]["parameter"] == "tweet_type", str(e.details))
    return notes


@step("promoted tweets (attach, list, delete, re-POST restores)")
def _():
    account = state["account"]
    li = state["line_item"].id
    attached = list(PromotedTweet.attach(account, line_item_id=li, tweet_ids=[state["tweets"][0]]))
    notes = compare("promoted tweets attach", "docs-x__promoted_tweets_post.json", ANSWERS[-1])
    pt = attached[0]
    ANSWERS.clear()
    listed = [p.id for p in account.promoted_tweets(line_item_ids=li)]
    check(listed == [pt.id], f"listed {listed}")
    notes += compare("promoted tweets", "docs-x__promoted_tweets_get_all.json", ANSWERS[-1])
    ANSWERS.clear()
    account.promoted_tweets(pt.id)
    notes += compare("promoted tweet load", "docs-x__promoted_tweets_get_one.json", ANSWERS[-1])
    ANSWERS.clear()
    pt.delete()
    check(ANSWERS[-1]["data"]["deleted"] is True, "DELETE did not delete")
    notes += compare("promoted tweet delete", "docs-x__promoted_tweets_delete.json", ANSWERS[-1])
    ANSWERS.clear()
    PromotedTweet.attach(account, line_item_id=li, tweet_ids=[state["tweets"][0]])
    again = ANSWERS[-1]["data"][0]
    check(again["id"] == pt.id, f"the re-POST made a new promoted tweet {again['id']} (was {pt.id})")
    check(again["deleted"] is False, "the re-POST did not restore it")
    return notes


@step("batch campaigns, line items, targeting criteria")
def _():
    account = state["account"]
    c = Campaign(account)
    c.name = "batch campaigns"
    c.funding_instrument_id = state["fi"]
    c.daily_budget_amount_local_micro = 140000000
    c.entity_status = "PAUSED"
    Campaign.batch_save(account, [c])
    check(c.id and "data_type" not in ANSWERS[-1], f"batch campaigns answered {list(ANSWERS[-1])}")
    notes = compare("batch campaigns", "docs-x__batch_campaigns_response.json", ANSWERS[-1])
    li = LineItem(account)
    li.campaign_id = c.id
    li.objective = "ENGAGEMENTS"
    li.product_type = "PROMOTED_TWEETS"
    li.placements = "ALL_ON_TWITTER"
    li.bid_amount_local_micro = 3210000
    li.entity_status = "PAUSED"
    LineItem.batch_save(account, [li])
    check(li.id and ANSWERS[-1]["data"][0]["start_time"] is None, "batch create without start_time")
    notes += compare("batch line items", "docs-x__batch_line_items_response.json", ANSWERS[-1])
    t1 = TargetingCriteria(account)
    t1.line_item_id = li.id
    t1.targeting_type = "LOCATION"
    t1.targeting_value = "5122804691e5fecc"
    t2 = TargetingCriteria(account)
    t2.line_item_id = li.id
    t2.targeting_type = "BROAD_KEYWORD"
    t2.targeting_value = "accounts"
    ANSWERS.clear()
    TargetingCriteria.batch_save(account, [t1, t2])
    body = ANSWERS[-1]
    notes += compare(
        "batch targeting criteria", "docs-x__batch_targeting_criteria_response.json", body
    )
    check(body.get("data_type") == "targeting_criterion", "X's example has data_type")
    check(body["data"][0]["location_type"] == "CITY", "a location criterion has location_type")
    t2.to_delete = True
    TargetingCriteria.batch_save(account, [t2])
    check(ANSWERS[-1]["data"][0]["deleted"] is True, "batch Delete")
    return notes


def stats_params(body):
    return body["request"]["params"]


@step("stats: HOUR")
def _():
    account = state["account"]
    start, end = NOW - dt.timedelta(hours=24), NOW
    ids = [li.id for li in account.line_items(count=20)][:20]
    ANSWERS.clear()
    LineItem.all_stats(
        account, ids, [METRIC_GROUP.ENGAGEMENT, METRIC_GROUP.BILLING],
        start_time=start, end_time=end, granularity=GRANULARITY.HOUR,
        placement=PLACEMENT.ALL_ON_TWITTER,
    )
    body = ANSWERS[-1]
    check(body["time_series_length"] == 24, f"HOUR over a day: {body['time_series_length']}")
    check(any(d["id_data"][0]["metrics"]["impressions"] for d in body["data"]), "no delivery")
    notes = compare("stats", "docs-x__stats_sync_get_response.json", body)
    fx = fixture("docs-x__stats_sync_get_response.json")
    want = keys(fx["data"][0]["id_data"])
    check(keys(body["data"][0]["id_data"]) == want, "id_data keys")
    check(set(stats_params(body)) == set(stats_params(fx)), "request.params keys")
    fx_metrics = set(fx["data"][0]["id_data"][0]["metrics"])
    ours = set(body["data"][0]["id_data"][0]["metrics"])
    check(fx_metrics <= ours, f"ENGAGEMENT metrics missing: {sorted(fx_metrics - ours)}")
    return notes


@step("stats: DAY in the account's time zone")
def _():
    jpy = next(a for a in client.accounts() if a.timezone == "Asia/Tokyo")
    today = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
    start = dt.datetime.combine(today - dt.timedelta(days=3), dt.time())
    end = dt.datetime.combine(today - dt.timedelta(days=1), dt.time())
    ids = [c.id for c in jpy.campaigns()][:20]
    ANSWERS.clear()
    # The SDK sends DAY bounds as bare dates; X reads them as midnight in the account's zone.
    Campaign.all_stats(
        jpy, ids, [METRIC_GROUP.BILLING], start_time=start, end_time=end,
        granularity=GRANULARITY.DAY, placement=PLACEMENT.ALL_ON_TWITTER,
    )
    body = ANSWERS[-1]
    check(body["time_series_length"] == 2, f"two days answered {body['time_series_length']}")
    midnight = dt.datetime.combine(start.date(), dt.time(), ZoneInfo("Asia/Tokyo"))
    want = midnight.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    check(stats_params(body)["start_time"] == want, f"{stats_params(body)['start_time']} != {want}")
    return compare("stats", "docs-x__stats_sync_get_response.json", body)


@step("stats: TOTAL")
def _():
    account = state["account"]
    ids = [c.id for c in account.campaigns()][:20]
    ANSWERS.clear()
    Campaign.all_stats(
        account, ids, [METRIC_GROUP.ENGAGEMENT], start_time=NOW - dt.timedelta(days=7),
        end_time=NOW, granularity=GRANULARITY.TOTAL, placement=PLACEMENT.ALL_ON_TWITTER,
    )
    body = ANSWERS[-1]
    check(body["time_series_length"] == 1, "TOTAL is one bucket")
    return compare("stats", "docs-x__stats_sync_get_response.json", body)


@step("active entities (seconds, before the window, several placements)")
def _():
    account = state["account"]
    start, end = NOW - dt.timedelta(hours=24), NOW
    data = LineItem.active_entities(account, start, end)
    notes = compare("active entities", "docs-x__active_entities_get_response.json", ANSWERS[-1])
    check(data, "no active line items")
    parse = lambda s: dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    times = [parse(d[k]) for d in data for k in ("activity_start_time", "activity_end_time")]
    check(any(t.minute or t.second for t in times), "every activity time is a whole hour")
    check(any(parse(d["activity_start_time"]) < start for d in data), "nothing started before the window")
    check(any(len(d["placements"]) > 1 for d in data), "no entity with several placements")
    # A client passing these times straight to stats fails, as at X; whole hours work.
    d = next(d for d in data if "ALL_ON_TWITTER" in d["placements"])
    a, b = parse(d["activity_start_time"]), parse(d["activity_end_time"])
    try:
        LineItem.all_stats(account, [d["entity_id"]], [METRIC_GROUP.ENGAGEMENT], start_time=a,
                           end_time=b, granularity=GRANULARITY.TOTAL)
        if a.minute or a.second or b.minute or b.second:
            raise AssertionError("stats accepted times that are not whole hours")
    except BadRequest:
        pass
    lo = max(floor_hour(a), start)
    hi = min(floor_hour(b) + (dt.timedelta(hours=1) if b != floor_hour(b) else dt.timedelta()), end)
    LineItem.all_stats(account, [d["entity_id"]], [METRIC_GROUP.ENGAGEMENT], start_time=lo,
                       end_time=hi, granularity=GRANULARITY.HOUR)
    return notes


@step("media library (list, load, add, update, delete)")
def _():
    account = state["account"]
    items = list(MediaLibrary.all(account, count=50))
    # X's examples: an image in the list, a video in the single read, a GIF in the PUT (GIFs and
    # videos carry duration, poster, title, description and aspect ratio; images do not).
    images = lambda b: [m for m in b["data"] if m["media_type"] == "IMAGE"]  # noqa: E731
    others = lambda b: [m for m in b["data"] if m["media_type"] != "IMAGE"]  # noqa: E731
    notes = compare("media library", "docs-x__media_library_get_all.json", ANSWERS[0], dig=images)
    notes += compare("media library (videos, GIFs)", "docs-x__media_library_get_one.json",
                     ANSWERS[0], dig=lambda b: others(b) if isinstance(b["data"], list) else b["data"],
                     envelope=False)
    video = next(m for m in items if m.media_type == "VIDEO")
    gif = next(m for m in items if m.media_type == "GIF")
    ANSWERS.clear()
    MediaLibrary.load(account, video.media_key)
    notes += compare("media library load", "docs-x__media_library_get_one.json", ANSWERS[-1])
    # Upload (X API v2, OAuth 1.0a) an image, then register it in the library with the SDK.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
    session = OAuth1Session(CREDS[0], CREDS[1], CREDS[2], CREDS[3])
    up = session.post(f"{URL}/2/media/upload", files={"media": ("pixel.png", png, "image/png")},
                      data={"media_category": "tweet_image"})
    check(up.status_code == 200, f"upload answered {up.status_code} {up.text[:200]}")
    m = MediaLibrary(account)
    m.media_key = up.json()["data"]["media_key"]
    m.name = "pixel"
    m.file_name = "pixel.png"
    ANSWERS.clear()
    m.add()
    notes += compare("media library add", "docs-x__media_library_post.json", ANSWERS[-1])
    check(any(x.media_key == m.media_key for x in MediaLibrary.all(account, count=50)), "not listed")
    ANSWERS.clear()
    gif.title = "cat GIF"
    gif.description = "in space"
    gif.update()
    check(ANSWERS[-1]["data"]["title"] == "cat GIF", "PUT lost")
    notes += compare("media library update", "docs-x__media_library_put.json", ANSWERS[-1])
    ANSWERS.clear()
    video.delete()
    check(ANSWERS[-1]["data"]["deleted"] is True, "DELETE did not delete")
    notes += compare("media library delete", "docs-x__media_library_delete.json", ANSWERS[-1])
    m.delete()
    return notes


@step("asynchronous stats jobs (queue, poll, download gzipped, segmented, cancel)")
def _():
    account = state["account"]
    ids = [li.id for li in account.line_items(count=20)][:20]
    start, end = NOW - dt.timedelta(days=30), NOW
    ANSWERS.clear()
    job = LineItem.queue_async_stats_job(
        account, ids, [METRIC_GROUP.ENGAGEMENT], start_time=start, end_time=end,
        granularity=GRANULARITY.TOTAL, placement=PLACEMENT.ALL_ON_TWITTER,
    )
    notes = compare("stats job", "docs-x__stats_jobs_post_response.json", ANSWERS[-1])
    check(ANSWERS[-1]["data"]["status"] == "PROCESSING" and ANSWERS[-1]["data"]["url"] is None,
          "a new job is PROCESSING without url")
    done = None
    for _ in range(5):
        ANSWERS.clear()
        jobs = list(LineItem.async_stats_job_result(account, job_ids=[str(job.id)]))
        check(len(jobs) == 1, f"poll answered {len(jobs)} jobs")
        if jobs[0].status == "SUCCESS":
            done = jobs[0]
            break
    check(done is not None, "the job never finished")
    notes += compare("stats jobs", "docs-x__stats_jobs_get_response.json", ANSWERS[-1])
    data = LineItem.async_stats_job_data(account, url=done.url)
    notes += compare("stats job result", "docs-x__stats_jobs_result_file_unzipped.json", data)
    check(data["time_series_length"] == 1, "TOTAL is one bucket")
    # The job's numbers are the synchronous call's (7 days at most there: compare the last week).
    week = LineItem.queue_async_stats_job(
        account, ids, [METRIC_GROUP.ENGAGEMENT], start_time=NOW - dt.timedelta(days=7),
        end_time=NOW, granularity=GRANULARITY.TOTAL, placement=PLACEMENT.ALL_ON_TWITTER,
        segmentation_type="PLATFORMS",
    )
    seg = None
    for _ in range(5):
        polled = list(LineItem.async_stats_job_result(account, job_ids=[str(week.id)]))
        if polled[0].status == "SUCCESS":
            seg = LineItem.async_stats_job_data(account, url=polled[0].url)
            break
    check(seg is not None, "the segmented job never finished")
    ANSWERS.clear()
    LineItem.all_stats(
        account, ids, [METRIC_GROUP.ENGAGEMENT], start_time=NOW - dt.timedelta(days=7), end_time=NOW,
        granularity=GRANULARITY.TOTAL, placement=PLACEMENT.ALL_ON_TWITTER,
    )
    sync = {d["id"]: d["id_data"][0]["metrics"]["impressions"] for d in ANSWERS[-1]["data"]}
    for d in seg["data"]:
        total = sum((s["metrics"]["impressions"] or [0])[0] for s in d["id_data"])
        want = (sync[d["id"]] or [0])[0]
        check(total == want, f"{d['id']}: segments sum to {total}, the sync call says {want}")
        check(all(s["segment"]["segment_name"] for s in d["id_data"]), "a segment without name")
    # Cancel (DELETE, not in the SDK): a processing job ends CANCELLED.
    pending = LineItem.queue_async_stats_job(
        account, ids, [METRIC_GROUP.ENGAGEMENT], start_time=start, end_time=end,
        granularity=GRANULARITY.TOTAL,
    )
    ANSWERS.clear()
    Request(client, "delete", f"/12/stats/jobs/accounts/{account.id}/{pending.id}").perform()
    check(ANSWERS[-1]["data"]["status"] == "CANCELLED", "DELETE did not cancel")
    notes += compare("stats job cancel", "community__stats_jobs_delete_v1.json", ANSWERS[-1])
    return notes


@step("deletes (line item, campaign)")
def _():
    account = state["account"]
    li = state["line_item"]
    li.delete()
    check(ANSWERS[-1]["data"]["deleted"] is True, "line item DELETE")
    notes = compare("line item delete", "docs-x__line_items_delete.json", ANSWERS[-1])
    ANSWERS.clear()
    state["campaign"].delete()
    d = ANSWERS[-1]["data"]
    check(d["deleted"] is True and d["servable"] is None, f"campaign DELETE answered {d}")
    notes += compare("campaign delete", "docs-x__campaigns_delete.json", ANSWERS[-1])
    try:
        account.campaigns(state["campaign"].id)
        raise AssertionError("a deleted campaign still loads")
    except NotFound:
        pass
    return notes


@step("errors: unknown id -> NotFound")
def _():
    try:
        state["account"].campaigns("zzzzz")
    except NotFound as e:
        check(e.details[0]["code"] == "NOT_FOUND", str(e.details))
        return []
    raise AssertionError("no NotFound")


@step("errors: another user's account -> 403 ACCOUNT_NOT_FOUND")
def _():
    try:
        client.accounts(FOREIGN_ID)
    except Forbidden as e:
        check(e.code == 403 and e.details[0]["code"] == "ACCOUNT_NOT_FOUND", str(e.details))
        return []
    raise AssertionError("no Forbidden")


@step("errors: bad parameters -> BadRequest (X's error envelope)")
def _():
    account = state["account"]
    notes = []
    c = Campaign(account)
    c.name = "bad"
    c.funding_instrument_id = state["fi"]
    c.entity_status = "RUNNING"
    try:
        c.save()
        raise AssertionError("entity_status=RUNNING was accepted")
    except BadRequest as e:
        check(e.details[0]["parameter"] == "entity_status", str(e.details))
        notes += compare("error envelope", "docs-x__error_invalid_parameter.json", ANSWERS[-1],
                         dig=lambda b: b["errors"])
    refusals = {
        "line item without start_time": (
            "post", LineItem.RESOURCE_COLLECTION,
            {"campaign_id": state["seeded_line_item"].campaign_id, "objective": "WEBSITE_CLICKS",
             "product_type": "PROMOTED_TWEETS", "placements": "ALL_ON_TWITTER"},
            "start_time",
        ),
        "repeated placements= keys": (
            "post", LineItem.RESOURCE_COLLECTION,
            {"campaign_id": state["seeded_line_item"].campaign_id, "objective": "WEBSITE_CLICKS",
             "product_type": "PROMOTED_TWEETS", "start_time": "2030-01-01T00:00:00Z",
             "placements": ["ALL_ON_TWITTER", "PUBLISHER_NETWORK"]},
            "placements",
        ),
        "unknown targeting_value": (
            "post", TargetingCriteria.RESOURCE_COLLECTION,
            {"line_item_id": state["seeded_line_item"].id,
             "targeting_type": "LOCATION", "targeting_value": "nowhere"},
            "targeting_value",
        ),
        "stats for an unknown entity id": (
            "get", "/12/stats/accounts/{account_id}",
            {"entity": "CAMPAIGN", "entity_ids": "zzzzz", "granularity": "TOTAL",
             "placement": "ALL_ON_TWITTER", "metric_groups": "ENGAGEMENT",
             "start_time": (NOW - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "end_time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "entity_ids",
        ),
    }
    for what, (method, path, params, param) in refusals.items():
        try:
            Request(client, method, path.format(account_id=account.id), params=params).perform()
            raise AssertionError(f"{what} was accepted")
        except BadRequest as e:
            check(e.details[0].get("parameter") == param, f"{what}: {e.details}")
    return notes


@step("errors: bad signature -> 401 NotAuthorized")
def _():
    bad = Client(CREDS[0], "not-the-consumer-secret", CREDS[2], CREDS[3])
    try:
        list(bad.accounts())
    except NotAuthorized as e:
        check(e.code == 401, str(e))
        return []
    raise AssertionError("a bad signature was accepted")


passed = sum(1 for _, ok, _ in RESULTS if ok)
failed = [name for name, ok, _ in RESULTS if ok is False]
skipped = sum(1 for _, ok, _ in RESULTS if ok is None)
print(f"sdk conformance: {passed} passed, {len(failed)} failed, {skipped} skipped"
      + (f" (failed: {', '.join(failed)})" if failed else ""))
sys.exit(1 if failed else 0)
