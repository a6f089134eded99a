//! A hand-rolled HTTP/1.1 stub on 127.0.0.1:0: records each request and answers from a script.
//! One request per connection (`connection: close`), so no server-side timers interfere with a
//! paused tokio clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use xads_client::{BearerSigner, RetryPolicy, XAds, XAdsClient};

/// The bearer token the tests sign with; it must never show up in errors.
pub const TOKEN: &str = "tok-SECRET-123";

/// What the stub answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An HTTP response.
    Http {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Read the request, then close the connection without answering.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    pub fn html(status: u16, body: &str) -> Self {
        Reply::Http {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl ToString) -> Self {
        if let Reply::Http { headers, .. } = &mut self {
            headers.push((name.into(), value.to_string()));
        }
        self
    }

    pub fn ok(data: &str) -> Self {
        Reply::json(
            200,
            &format!(r#"{{"request":{{"params":{{}}}},"data":{data}}}"#),
        )
    }

    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(
            status,
            &format!(
                r#"{{"errors":[{{"code":"{code}","message":"{message}"}}],"request":{{"params":{{}}}}}}"#
            ),
        )
    }
}

/// One request as the stub received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (still percent-encoded), empty when none.
    pub raw_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it arrived, on tokio's (possibly paused) clock.
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters.
    pub fn params(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.raw_query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Decoded form body parameters.
    pub fn form(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    last: Mutex<Option<Reply>>,
}

/// A running stub.
pub struct Stub {
    pub url: String,
    shared: Arc<Shared>,
}

impl Stub {
    /// Starts a stub answering `script` in order, then repeating its last reply.
    pub async fn start(script: Vec<Reply>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        *shared.script.lock().unwrap() = script.into();
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Stub { url, shared }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The only request received (panics otherwise).
    pub fn single(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request, got {r:#?}");
        r.into_iter().next().unwrap()
    }

    /// A client pointed at the stub for both hosts.
    pub fn client(&self, retry: RetryPolicy) -> XAdsClient {
        XAdsClient::builder()
            .ads_base_url(&self.url)
            .api_base_url(&self.url)
            .client_id("client-1")
            // No per-attempt timer: a paused clock would jump to it while real I/O is pending.
            .timeout(None)
            .retry_policy(retry)
            .build()
            .unwrap()
    }

    /// A connection view signing with [`TOKEN`].
    pub fn ads(&self, retry: RetryPolicy) -> XAds {
        self.client(retry)
            .with_auth(Arc::new(BearerSigner::new(TOKEN)), "conn-1")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target.clone(), String::new()),
    };
    shared.log.lock().unwrap().push(Recorded {
        method,
        path,
        raw_query,
        headers,
        body,
        at: Instant::now(),
    });
    let reply = {
        let next = shared.script.lock().unwrap().pop_front();
        let mut last = shared.last.lock().unwrap();
        match next {
            Some(r) => {
                *last = Some(r.clone());
                r
            }
            None => last
                .clone()
                .unwrap_or_else(|| Reply::html(404, "no script")),
        }
    };
    match reply {
        Reply::Drop => {}
        Reply::Http {
            status,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&body);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
    }
}
