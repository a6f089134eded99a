//! Asynchronous analytics jobs: create, poll, cancel, and the streamed download of the result.

use std::io::{self, Read};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::{Method, header};
use tokio::sync::mpsc;

use super::API_VERSION;
use crate::config::{XAds, XAdsClient};
use crate::envelope::{RawResponse, decode_envelope, decode_error};
use crate::error::XError;
use crate::gate::EndpointFamily;
use crate::headers::{parse_job_limit, parse_rate_limit, request_id};
use crate::models::{
    JobListQuery, JobResultInfo, JobResultRow, JobsResponse, StatsJob, StatsJobQuery,
};
use crate::params::ToParams;
use crate::request::Call;
use crate::result_file::{ReadError, read_result};

/// Compressed chunks in flight between the socket and the decompressor.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Parsed rows in flight between the parser and the caller. A row is one entity's whole job
/// span: 90 days of hours of every metric asked (X's numbers as JSON values, about 1.6 MB
/// parsed), so a few keep the parser ahead without holding much of the file (16 held 26 MB in
/// the history bench).
const ROWS_IN_FLIGHT: usize = 4;

const DOWNLOAD: &str = "download_stats_job";

impl XAds {
    async fn job_call<T: serde::de::DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<JobsResponse<T>, XError> {
        let op = call.operation;
        let raw = self.send(call).await?;
        let job_limit = parse_job_limit(&raw.headers);
        Ok(JobsResponse {
            response: decode_envelope(op, raw)?,
            job_limit,
        })
    }

    /// `POST /12/stats/jobs/accounts/:id`: queues a job (X answers it `PROCESSING`, `url` null).
    /// X's rules (≤ 20 ids, whole hours, ≤ 90 days, ≤ 45 segmented, METROS with a country,
    /// CONVERSION_TAGS with WEB_CONVERSION only) are checked first. Not retried after an
    /// ambiguous failure: a second POST would be a second job (poll the account's jobs instead).
    pub async fn create_stats_job(
        &self,
        account_id: &str,
        query: &StatsJobQuery,
    ) -> Result<JobsResponse<StatsJob>, XError> {
        const OP: &str = "create_stats_job";
        query.validate().map_err(XError::invalid(OP))?;
        let call = Call::ads(
            OP,
            Method::POST,
            &[API_VERSION, "stats", "jobs", "accounts", account_id],
        )
        .account(account_id)
        .family(EndpointFamily::Write)
        .query(query.to_params());
        self.job_call(call).await
    }

    /// `GET /12/stats/jobs/accounts/:id?job_ids=…`: the jobs' states, a page at a time
    /// (`next_cursor`), with X's `X-Concurrent-Job-Limit*` headers.
    pub async fn stats_jobs(
        &self,
        account_id: &str,
        query: &JobListQuery,
    ) -> Result<JobsResponse<Vec<StatsJob>>, XError> {
        const OP: &str = "stats_jobs";
        query.validate().map_err(XError::invalid(OP))?;
        let call = Call::ads(
            OP,
            Method::GET,
            &[API_VERSION, "stats", "jobs", "accounts", account_id],
        )
        .account(account_id)
        .family(EndpointFamily::OtherRead)
        .query(query.to_params());
        self.job_call(call).await
    }

    /// `DELETE /12/stats/jobs/accounts/:id/:job_id`: cancels a queued or processing job
    /// (answered `CANCELLED`).
    pub async fn cancel_stats_job(
        &self,
        account_id: &str,
        job_id: &str,
    ) -> Result<JobsResponse<StatsJob>, XError> {
        let call = Call::ads(
            "cancel_stats_job",
            Method::DELETE,
            &[API_VERSION, "stats", "jobs", "accounts", account_id, job_id],
        )
        .account(account_id)
        .family(EndpointFamily::Write);
        self.job_call(call).await
    }

    /// Downloads a finished job's result file; see [`XAdsClient::download_stats_job`].
    pub async fn download_stats_job(&self, url: &str) -> Result<JobResult, XError> {
        self.client.download_stats_job(url).await
    }
}

/// A result file being read: rows arrive as the bytes do. Dropping it stops the download.
#[derive(Debug)]
pub struct JobResult {
    rows: mpsc::Receiver<Result<JobResultRow, XError>>,
    done: Option<tokio::task::JoinHandle<Result<JobResultInfo, XError>>>,
    info: Option<JobResultInfo>,
}

impl JobResult {
    /// The next row; `None` at the end of the file (then [`Self::info`] is set) or after an
    /// error was returned.
    pub async fn next(&mut self) -> Option<Result<JobResultRow, XError>> {
        if let Some(row) = self.rows.recv().await {
            return Some(row);
        }
        let handle = self.done.take()?;
        match handle.await {
            Ok(Ok(info)) => {
                self.info = Some(info);
                None
            }
            Ok(Err(e)) => Some(Err(e)),
            Err(e) => Some(Err(XError::Decode {
                operation: DOWNLOAD,
                status: 200,
                message: format!("the result reader stopped: {e}"),
            })),
        }
    }

    /// What the file said besides its rows, once [`Self::next`] returned `None`.
    pub fn info(&self) -> Option<&JobResultInfo> {
        self.info.as_ref()
    }

    /// Reads every remaining row into a vector (for small files and tests).
    pub async fn collect(mut self) -> Result<(Vec<JobResultRow>, JobResultInfo), XError> {
        let mut out = Vec::new();
        while let Some(row) = self.next().await {
            out.push(row?);
        }
        Ok((out, self.info.unwrap_or_default()))
    }
}

/// A blocking `Read` over the chunks the download task receives.
struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, io::Error>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.current = b,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn host_of(url: &url::Url) -> String {
    url.host_str().unwrap_or("").to_owned()
}

impl XAdsClient {
    /// GET of the response head, retried per the policy (a GET is safe to repeat).
    async fn download_head(&self, url: &url::Url) -> Result<reqwest::Response, XError> {
        let mut attempts = 0u32;
        loop {
            let started = Instant::now();
            // No credentials: the file is public at its (unguessable) URL, and a token must never
            // travel to another host.
            let sent = self
                .inner
                .http
                .get(url.clone())
                .header(header::USER_AGENT, self.inner.user_agent.as_str())
                .send();
            let result = match self.inner.timeout {
                Some(t) => match tokio::time::timeout(t, sent).await {
                    Ok(r) => r.map_err(|e| transport(&e)),
                    Err(_) => Err(XError::Transport {
                        operation: DOWNLOAD,
                        ambiguous: true,
                        timeout: true,
                        message: "no answer within the timeout".into(),
                    }),
                },
                None => sent.await.map_err(|e| transport(&e)),
            };
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let err = match result {
                Ok(resp) if resp.status().is_success() => {
                    metrics::counter!("xads_x_calls_total", "endpoint" => DOWNLOAD, "status" => resp.status().as_u16().to_string()).increment(1);
                    tracing::info!(
                        x.endpoint = DOWNLOAD,
                        x.host = %host_of(url),
                        x.status = resp.status().as_u16(),
                        duration_ms,
                        attempt = attempts + 1,
                        "X call"
                    );
                    return Ok(resp);
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    metrics::counter!("xads_x_calls_total", "endpoint" => DOWNLOAD, "status" => status.to_string()).increment(1);
                    let headers = resp.headers().clone();
                    // An error page is small; cap it anyway.
                    let body = resp.bytes().await.unwrap_or_default();
                    let body = body.slice(..body.len().min(64 * 1024));
                    decode_error(
                        DOWNLOAD,
                        &RawResponse {
                            status,
                            rate_limit: parse_rate_limit(&headers),
                            request_id: request_id(&headers),
                            headers,
                            body,
                        },
                    )
                }
                Err(e) => {
                    metrics::counter!("xads_x_calls_total", "endpoint" => DOWNLOAD, "status" => "transport").increment(1);
                    e
                }
            };
            attempts += 1;
            let Some((wait, _)) =
                self.inner
                    .retry
                    .decide(&err, false, false, attempts, 0, Utc::now())
            else {
                return Err(err);
            };
            tracing::warn!(
                x.endpoint = DOWNLOAD,
                x.status = err.status(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying X call"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Downloads a finished job's result file (`url` of a `SUCCESS` job; no OAuth, so none is
    /// sent) and parses it as it arrives: gzip is detected by its magic bytes (small results may
    /// come plain), decompressed and parsed on a blocking thread, and rows are handed over
    /// through a bounded channel, so neither the compressed nor the decompressed file is ever
    /// held in memory. Waiting for the head is retried per the policy; a body that stalls longer
    /// than the client's timeout between two chunks fails the read.
    pub async fn download_stats_job(&self, url: &str) -> Result<JobResult, XError> {
        let url = url::Url::parse(url).map_err(|e| XError::Invalid {
            operation: DOWNLOAD,
            message: format!("not a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(XError::Invalid {
                operation: DOWNLOAD,
                message: format!("unsupported scheme {}", url.scheme()),
            });
        }
        let mut resp = self.download_head(&url).await?;
        let idle = self.inner.timeout;
        let (chunk_tx, chunk_rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHUNKS_IN_FLIGHT);
        tokio::spawn(async move {
            loop {
                let next = match idle {
                    Some(t) => match tokio::time::timeout(t, resp.chunk()).await {
                        Ok(r) => r,
                        Err(_) => {
                            let _ = chunk_tx
                                .send(Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "the result file stalled",
                                )))
                                .await;
                            return;
                        }
                    },
                    None => resp.chunk().await,
                };
                let item = match next {
                    Ok(Some(b)) => Ok(b),
                    Ok(None) => return,
                    Err(e) => Err(io::Error::other(chain(&e))),
                };
                let failed = item.is_err();
                if chunk_tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        let (row_tx, row_rx) = mpsc::channel(ROWS_IN_FLIGHT);
        let done = tokio::task::spawn_blocking(move || {
            let reader = ChunkReader {
                chunks: chunk_rx,
                current: Bytes::new(),
            };
            read_result(reader, |row| row_tx.blocking_send(Ok(row)).is_ok()).map_err(|e| match e {
                ReadError::Io(e) => XError::Transport {
                    operation: DOWNLOAD,
                    ambiguous: false,
                    timeout: e.kind() == io::ErrorKind::TimedOut,
                    message: e.to_string(),
                },
                other => XError::Decode {
                    operation: DOWNLOAD,
                    status: 200,
                    message: other.to_string(),
                },
            })
        });
        Ok(JobResult {
            rows: row_rx,
            done: Some(done),
            info: None,
        })
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn transport(e: &reqwest::Error) -> XError {
    XError::Transport {
        operation: DOWNLOAD,
        ambiguous: !e.is_connect(),
        timeout: e.is_timeout(),
        message: chain(e),
    }
}
