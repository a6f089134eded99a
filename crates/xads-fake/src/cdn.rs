//! X's media CDN (`pbs.twimg.com` images and thumbnails, `video.twimg.com` videos) on the
//! fake's own host, for previews without the internet: with
//! [`crate::FakeConfig::media_on_own_host`] every media URL the fake answers (media-library
//! items, tweets' images) is `http://<fake>/cdn/<X's host>/<X's path>`, and an image path
//! there answers a small PNG. Without it the URLs are X's own and nothing here is used.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;

/// Where the CDN lives on the fake's host.
pub const PATH: &str = "/cdn";

/// `x_url` (on one of X's media hosts) as the fake serves it when `origin` is set (`None`: X's
/// own URL, unchanged).
pub fn url(origin: Option<&str>, x_url: String) -> String {
    match (origin, x_url.strip_prefix("https://")) {
        (Some(origin), Some(rest)) => format!("{origin}{PATH}/{rest}"),
        _ => x_url,
    }
}

/// `GET /cdn/{host}/{*path}`: a 16×16 PNG for an image path (`.jpg`, `.png`), 404 otherwise
/// (the fake serves no video bytes). No auth, as X's CDN.
pub async fn serve(Path((host, path)): Path<(String, String)>) -> Response {
    let image = [".jpg", ".jpeg", ".png"]
        .iter()
        .any(|ext| path.ends_with(ext));
    if host != "pbs.twimg.com" || !image {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "max-age=604800"),
        ],
        png(&path),
    )
        .into_response()
}

/// A valid 16×16 RGB PNG in one colour derived from `seed` (so different media differ).
pub fn png(seed: &str) -> Vec<u8> {
    let h = seed.bytes().fold(2_166_136_261_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    let rgb = [
        (h >> 16) as u8 | 0x40,
        (h >> 8) as u8 | 0x40,
        h as u8 | 0x40,
    ];
    let (w, ht) = (16u32, 16u32);
    // Each row: filter byte 0 (none), then its pixels.
    let row: Vec<u8> = std::iter::once(0).chain((0..w).flat_map(|_| rgb)).collect();
    let raw = row.repeat(ht as usize);
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&raw).expect("in memory");
    let idat = z.finish().expect("in memory");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&ht.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], ihdr), (b"IDAT", idat), (b"IEND", vec![])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(&data);
        out.extend_from_slice(kind);
        out.extend_from_slice(&data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_move_to_the_fake_only_when_it_serves_them() {
        let x = "https://pbs.twimg.com/media/1.jpg".to_owned();
        assert_eq!(url(None, x.clone()), x);
        assert_eq!(
            url(Some("http://127.0.0.1:9"), x),
            "http://127.0.0.1:9/cdn/pbs.twimg.com/media/1.jpg"
        );
    }

    #[test]
    fn the_png_is_well_formed() {
        let p = png("a");
        assert!(p.starts_with(b"\x89PNG\r\n\x1a\n"));
        // IHDR's CRC over type and data, as PNG decoders check it.
        let mut crc = flate2::Crc::new();
        crc.update(&p[12..29]);
        assert_eq!(p[29..33], crc.sum().to_be_bytes());
        assert_ne!(png("a"), png("b"));
    }
}
