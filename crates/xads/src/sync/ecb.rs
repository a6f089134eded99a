//! ECB's reference rates, fetched by the service itself (PRODUCT.md §3, `XADS_FX_URL`): the
//! daily file at start and then once a day by one instance (a lease per UTC day in
//! `store::fx_fetches`), plus ECB's 90-day history file from the same folder when the stored
//! table has a gap. The files go through the same parser and import as `xads fx import`
//! (`fx::parse_ecb_xml`, EUR-based rates turned into USD per unit; `import_global_rates`, which
//! re-converts the stored rows of every date that got a rate).
//!
//! ECB unreachable (or answering something that is not its XML) is a warning: nothing stored is
//! touched, the day is recorded as failed and the next day's fetch tries again.

use std::future::Future;

use chrono::{Duration, NaiveDate};
use url::Url;

use crate::db::DbError;
use crate::services::Services;
use crate::store::{fx_fetches, new_id};

/// ECB's 90-day history, fetched from the daily file's folder when the table has a gap.
pub const HISTORY_FILE: &str = "eurofxref-hist-90d.xml";
/// The table has a gap when the newest stored ECB rate before the daily file's date is older
/// than this: ECB publishes every TARGET working day, and its longest closure (Good Friday to
/// Easter Monday, or Christmas over a weekend) leaves 4 days between two publications.
pub const GAP_AFTER: Duration = Duration::days(4);
/// How long one instance holds a day's fetch before another may take it over.
const LEASE_HOLD: Duration = Duration::minutes(10);
/// One request's timeout.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest file read (ECB's 90-day history is ~ 50 KB).
const MAX_BYTES: usize = 4 << 20;
/// How often an instance looks whether today's fetch is done (a new UTC day starts one).
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Why a fetch did not import.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The file could not be fetched (unreachable, timeout, a non-200 status, too large).
    #[error("fetching {file}: {message}")]
    Unreachable {
        /// Which file.
        file: String,
        /// What went wrong (no URL credentials, no body).
        message: String,
    },
    /// The file is not ECB's `eurofxref` XML.
    #[error("{file}: {message}")]
    Unreadable {
        /// Which file.
        file: String,
        /// The parser's complaint.
        message: String,
    },
    /// Storing failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What one fetch imported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Rates read (daily file plus history, when fetched).
    pub rates: usize,
    /// The daily file's date.
    pub date: Option<NaiveDate>,
    /// Whether the history file was fetched to fill a gap.
    pub history: bool,
    /// Currencies whose stored rates changed.
    pub currencies_changed: usize,
    /// Stored rows re-converted.
    pub rows_reconverted: u64,
}

/// The history file beside the daily one (`…/eurofxref-daily.xml` → `…/eurofxref-hist-90d.xml`).
pub fn history_url(daily: &Url) -> Url {
    daily.join(HISTORY_FILE).unwrap_or_else(|_| daily.clone())
}

fn file_name(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| url.host_str().unwrap_or("?").to_owned())
}

fn http_client() -> Result<reqwest::Client, FetchError> {
    // reqwest is built without a default crypto provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| FetchError::Unreachable {
            file: "client".into(),
            message: e.to_string(),
        })
}

async fn get(http: &reqwest::Client, url: &Url) -> Result<Vec<crate::fx::Rate>, FetchError> {
    let file = file_name(url);
    let unreachable = |message: String| FetchError::Unreachable {
        file: file.clone(),
        message,
    };
    let answer = http
        .get(url.clone())
        .send()
        .await
        // Without the URL: the error chain names the host only.
        .map_err(|e| unreachable(e.without_url().to_string()))?;
    if !answer.status().is_success() {
        return Err(unreachable(format!("HTTP {}", answer.status().as_u16())));
    }
    if answer
        .content_length()
        .is_some_and(|n| n > MAX_BYTES as u64)
    {
        return Err(unreachable(format!("larger than {MAX_BYTES} bytes")));
    }
    let body = answer
        .bytes()
        .await
        .map_err(|e| unreachable(e.without_url().to_string()))?;
    if body.len() > MAX_BYTES {
        return Err(unreachable(format!("larger than {MAX_BYTES} bytes")));
    }
    let text = String::from_utf8_lossy(&body);
    crate::fx::parse_ecb_xml(&text).map_err(|e| FetchError::Unreadable {
        file,
        message: e.to_string(),
    })
}

/// Fetches the daily file at `url` and imports it; when the stored ECB rates before its date
/// stop more than [`GAP_AFTER`] earlier (or there are none), the 90-day history file too.
pub async fn fetch(services: &Services, url: &Url) -> Result<Fetched, FetchError> {
    let http = http_client()?;
    let mut rates = get(&http, url).await?;
    let date = rates.iter().map(|r| r.date).max();
    let mut history = false;
    if let Some(date) = date {
        let before = fx_fetches::latest_ecb_date_before(&services.db, date).await?;
        if before.is_none_or(|d| date - d > GAP_AFTER) {
            let hist_url = history_url(url);
            match get(&http, &hist_url).await {
                Ok(h) => {
                    rates.extend(h);
                    history = true;
                }
                // The daily rates are still worth storing; the gap is retried tomorrow.
                Err(e) => {
                    tracing::warn!(error = %e, "ECB history not fetched; the gap stays until a later fetch")
                }
            }
        }
    }
    let (currencies_changed, rows_reconverted) =
        crate::sync::import_rates(services, &rates).await?;
    Ok(Fetched {
        rates: rates.len(),
        date,
        history,
        currencies_changed,
        rows_reconverted,
    })
}

/// Today's (UTC) fetch, when this instance wins the day's lease: `None` when another instance
/// holds it or the day is done (a failed day included: it waits for the next). The outcome is
/// recorded either way; a failure is logged as a warning.
pub async fn daily(
    services: &Services,
    url: &Url,
    holder: &str,
) -> Result<Option<Result<Fetched, FetchError>>, DbError> {
    let now = services.clock.now();
    let day = now.date_naive();
    if !fx_fetches::claim_day(&services.db, day, holder, now, LEASE_HOLD).await? {
        return Ok(None);
    }
    let result = fetch(services, url).await;
    let outcome = match &result {
        Ok(f) => {
            tracing::info!(
                rates = f.rates,
                date = ?f.date,
                history = f.history,
                currencies_changed = f.currencies_changed,
                rows_reconverted = f.rows_reconverted,
                "ECB rates fetched"
            );
            format!(
                "ok: {} rate(s) of {}{}, {} row(s) re-converted",
                f.rates,
                f.date
                    .map_or_else(|| "no date".to_owned(), |d| d.to_string()),
                if f.history {
                    " with the 90-day history"
                } else {
                    ""
                },
                f.rows_reconverted
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "ECB rates not fetched; stored rates and rows unchanged, retried tomorrow");
            format!("failed: {e}")
        }
    };
    fx_fetches::finish_day(&services.db, day, holder, &outcome, services.clock.now()).await?;
    Ok(Some(result))
}

/// Fetches at start and then once a day (whichever instance wins the day), until `shutdown`.
pub async fn run_forever(services: Services, url: Url, shutdown: impl Future<Output = ()> + Send) {
    tokio::pin!(shutdown);
    let holder = new_id("fx");
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            r = daily(&services, &url, &holder) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "ECB fetch bookkeeping failed; retried within the hour");
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_file_is_beside_the_daily_one() {
        let daily = Url::parse(crate::config::DEFAULT_FX_URL).unwrap();
        assert_eq!(
            history_url(&daily).as_str(),
            "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
        );
        let stand_in = Url::parse("http://127.0.0.1:4000/ecb/daily.xml").unwrap();
        assert_eq!(
            history_url(&stand_in).as_str(),
            "http://127.0.0.1:4000/ecb/eurofxref-hist-90d.xml"
        );
        assert_eq!(file_name(&daily), "eurofxref-daily.xml");
    }
}
