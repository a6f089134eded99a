//! Previews of media X serves — media-library images and video posters, tweets' images — read
//! through our own origin, so the pages keep `img-src 'self'` and the browser never talks to
//! X's CDN. Only URLs on a host of `XADS_MEDIA_HOSTS` are fetched (https; plain http only on a
//! loopback address, as the fake's CDN in tests and the demo), no redirect is followed, the
//! answer must arrive within [`TIMEOUT`], be at most [`MAX_BYTES`] and be an image by its own
//! bytes (PNG, JPEG, GIF or WebP), whose type is the one answered.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use url::Url;

use super::sniff::{self, Format};

/// The longest a preview may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest preview read (X's images are far below it).
pub const MAX_BYTES: usize = 5 * 1024 * 1024;

/// A preview read from X's CDN: its bytes and their image type.
#[derive(Debug)]
pub struct Preview {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`, from the bytes.
    pub content_type: &'static str,
    /// The image.
    pub bytes: Vec<u8>,
}

/// Why a preview is not answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PreviewError {
    /// Not a URL of an allowed media host (or not https where it must be).
    #[error("not a media URL this service reads")]
    NotAllowed,
    /// The CDN did not answer it in time, or answered another status.
    #[error("the preview could not be read: {0}")]
    Unavailable(String),
    /// Larger than [`MAX_BYTES`].
    #[error("the preview is too large")]
    TooLarge,
    /// The bytes are not an image.
    #[error("the preview is not an image")]
    NotAnImage,
}

/// `raw` as a URL this service may fetch: http(s) without credentials, on a host of `hosts`
/// (an entry `host` matches the URL's default port, `host:port` that port), https unless the
/// host is a loopback address.
pub fn allowed(hosts: &[String], raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let loopback = match url.host()? {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return None,
    }
    let with_port = url.port().map(|p| format!("{host}:{p}"));
    let listed = hosts.iter().any(|h| match &with_port {
        Some(hp) => h == hp,
        None => *h == host,
    });
    listed.then_some(url)
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // reqwest is built without a default crypto provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Reads the preview at `raw`, when it is on an allowed host (see the module).
pub async fn fetch(hosts: &[String], raw: &str) -> Result<Preview, PreviewError> {
    let url = allowed(hosts, raw).ok_or(PreviewError::NotAllowed)?;
    let read = async {
        let resp = client()
            .get(url)
            .header(reqwest::header::ACCEPT, "image/*")
            .send()
            .await
            .map_err(|e| PreviewError::Unavailable(kind_of(&e)))?;
        if !resp.status().is_success() {
            return Err(PreviewError::Unavailable(format!(
                "answered {}",
                resp.status().as_u16()
            )));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(PreviewError::TooLarge);
        }
        let mut bytes = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PreviewError::Unavailable(kind_of(&e)))?;
            if bytes.len() + chunk.len() > MAX_BYTES {
                return Err(PreviewError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let bytes = tokio::time::timeout(TIMEOUT, read)
        .await
        .map_err(|_| PreviewError::Unavailable("timed out".into()))??;
    let content_type = match sniff::sniff(&bytes) {
        Some(f @ (Format::Png | Format::Jpeg | Format::Gif | Format::Webp)) => f.mime(),
        _ => return Err(PreviewError::NotAnImage),
    };
    Ok(Preview {
        content_type,
        bytes,
    })
}

/// A transport failure in a few words (never the URL or the error chain).
fn kind_of(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "no connection".into()
    } else {
        "transport error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["pbs.twimg.com".into(), "127.0.0.1:4100".into()]
    }

    #[test]
    fn only_listed_hosts_over_https_or_loopback_http_are_read() {
        let ok = |u: &str| allowed(&hosts(), u).is_some();
        assert!(ok("https://pbs.twimg.com/media/a.jpg"));
        assert!(ok("https://PBS.twimg.com/media/a.jpg"));
        assert!(ok("http://127.0.0.1:4100/cdn/pbs.twimg.com/media/a.jpg"));
        for refused in [
            "http://pbs.twimg.com/media/a.jpg",
            "https://pbs.twimg.com.evil.example/a.jpg",
            "https://evil.example/pbs.twimg.com/a.jpg",
            "https://user:pw@pbs.twimg.com/a.jpg",
            "https://pbs.twimg.com:8443/a.jpg",
            "http://127.0.0.1:4101/a.jpg",
            "http://127.0.0.1/a.jpg",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!ok(refused), "{refused}");
        }
    }
}
