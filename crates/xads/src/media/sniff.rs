//! What a file really is: its format from magic bytes, the type the uploader declared (part
//! content type and/or file extension), X's size limits, and a structural check that refuses
//! empty and truncated files before anything is sent to X.
//!
//! The structural check is deliberately cheap (a few reads and seeks, never the whole file in
//! memory) and catches what a cut-off upload looks like:
//! - PNG: the chunk chain from the signature is walked by its length fields; the first chunk is
//!   `IHDR`, there is an `IDAT`, and `IEND` is the last chunk, ending exactly at end of file.
//!   CRCs are not verified (X decodes the image anyway).
//! - JPEG: starts with SOI + a marker (`FF D8 FF`) and ends with EOI (`FF D9`).
//! - GIF: `GIF87a`/`GIF89a`, at least header + screen descriptor + trailer, last byte `3B`.
//! - WebP: `RIFF` size field + 8 equals the file length, form type `WEBP`.
//! - MP4/MOV (ISO BMFF / QuickTime): the top-level boxes chain exactly to end of file (32-bit and
//!   64-bit sizes, size 0 = "to end of file" on the last box), and `moov` and `mdat` are present.

use std::io::{Read, Seek, SeekFrom};

/// One mebibyte: X's "MB" in its media limits.
pub const MB: u64 = 1024 * 1024;
/// X's limit for images (PNG, JPEG, WebP).
pub const IMAGE_LIMIT: u64 = 5 * MB;
/// X's limit for GIFs.
pub const GIF_LIMIT: u64 = 15 * MB;
/// X's limit for `amplify_video`.
pub const VIDEO_LIMIT: u64 = 512 * MB;
/// Bytes needed to recognise every supported format.
pub const SNIFF_LEN: usize = 12;

/// A supported media format, as recognised from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PNG image.
    Png,
    /// JPEG image.
    Jpeg,
    /// GIF (X's `tweet_gif`, animated or not).
    Gif,
    /// WebP image.
    Webp,
    /// MP4 video (ISO BMFF).
    Mp4,
    /// QuickTime (MOV) video.
    Mov,
}

impl Format {
    /// Every supported format.
    pub const ALL: [Format; 6] = [
        Format::Png,
        Format::Jpeg,
        Format::Gif,
        Format::Webp,
        Format::Mp4,
        Format::Mov,
    ];

    /// The MIME type sent to X.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Mp4 => "video/mp4",
            Format::Mov => "video/quicktime",
        }
    }

    /// A short human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
            Format::Gif => "GIF",
            Format::Webp => "WebP",
            Format::Mp4 => "MP4",
            Format::Mov => "MOV",
        }
    }

    /// X's upload `media_category`.
    pub fn category(self) -> &'static str {
        match self {
            Format::Png | Format::Jpeg | Format::Webp => "tweet_image",
            Format::Gif => "tweet_gif",
            Format::Mp4 | Format::Mov => "amplify_video",
        }
    }

    /// True for the video formats (X takes `title`/`description` only for videos).
    pub fn is_video(self) -> bool {
        matches!(self, Format::Mp4 | Format::Mov)
    }

    /// X's size limit for this format.
    pub fn limit(self) -> u64 {
        match self {
            Format::Png | Format::Jpeg | Format::Webp => IMAGE_LIMIT,
            Format::Gif => GIF_LIMIT,
            Format::Mp4 | Format::Mov => VIDEO_LIMIT,
        }
    }

    /// Whether a file declared as `declared` may contain `self`. MP4 and MOV are one container
    /// family (tools label them interchangeably and X takes both as `amplify_video`).
    pub fn matches(self, declared: Format) -> bool {
        self == declared || (self.is_video() && declared.is_video())
    }
}

/// Recognises the format from the first bytes of a file (at least [`SNIFF_LEN`] when available).
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(Format::Gif);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(Format::Webp);
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some(if &head[8..12] == b"qt  " {
            Format::Mov
        } else {
            Format::Mp4
        });
    }
    // Old QuickTime files start with one of these atoms instead of `ftyp`; the structural check
    // then has to find a coherent box chain, so a random match does not get through.
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free" | b"pnot") {
        return Some(Format::Mov);
    }
    None
}

/// What the uploader said the file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Declared {
    /// A supported format.
    Format(Format),
    /// A specific type we do not take (e.g. `text/plain`).
    Other(String),
}

/// The type declared by a part's `Content-Type`: `None` when absent or generic
/// (`application/octet-stream`).
pub fn declared_by_mime(content_type: Option<&str>) -> Option<Declared> {
    let ct = content_type?
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let f = match ct.as_str() {
        "" | "application/octet-stream" => return None,
        "image/png" | "image/x-png" => Format::Png,
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Format::Jpeg,
        "image/gif" => Format::Gif,
        "image/webp" => Format::Webp,
        "video/mp4" | "video/x-m4v" => Format::Mp4,
        "video/quicktime" | "video/mov" => Format::Mov,
        _ => return Some(Declared::Other(ct)),
    };
    Some(Declared::Format(f))
}

/// The type declared by a file name's extension: `None` when there is none or it is not a media
/// extension (names like `upload` or `clip.tmp` say nothing).
pub fn declared_by_name(file_name: Option<&str>) -> Option<Declared> {
    let ext = file_name?.rsplit_once('.')?.1.to_ascii_lowercase();
    let f = match ext.as_str() {
        "png" => Format::Png,
        "jpg" | "jpeg" | "jpe" | "jfif" => Format::Jpeg,
        "gif" => Format::Gif,
        "webp" => Format::Webp,
        "mp4" | "m4v" => Format::Mp4,
        "mov" | "qt" => Format::Mov,
        "bmp" | "tif" | "tiff" | "svg" | "heic" | "avi" | "webm" | "mkv" | "txt" | "html"
        | "pdf" | "zip" | "exe" => return Some(Declared::Other(format!(".{ext}"))),
        _ => return None,
    };
    Some(Declared::Format(f))
}

/// Why a file was refused. Each message is meant for the person who uploaded it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Not one of the formats X takes.
    #[error("the file is not a PNG, JPEG, GIF, WebP, MP4 or MOV (by its content)")]
    Unsupported,
    /// Neither a content type nor a file extension said what the file is.
    #[error(
        "the file's type is not declared: send the part with a Content-Type such as image/png, or a file name with its extension"
    )]
    Undeclared,
    /// The bytes are not what the content type or extension says.
    #[error("the file was declared as {declared} ({by}) but its content is {actual}")]
    Mismatch {
        /// What was declared.
        declared: String,
        /// `content type` or `file name`.
        by: &'static str,
        /// The format found.
        actual: &'static str,
    },
    /// Over X's limit for the format.
    #[error("{format} files are limited to {} MB ({limit} bytes) at X", limit / MB)]
    TooLarge {
        /// The format.
        format: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Cut off or malformed.
    #[error("the {format} file is truncated or malformed: {why}")]
    Truncated {
        /// The format.
        format: &'static str,
        /// What is missing.
        why: &'static str,
    },
}

/// Checks the sniffed format against what was declared. At least one declaration is required,
/// and every declaration present must agree.
pub fn check_declared(
    actual: Format,
    by_mime: Option<&Declared>,
    by_name: Option<&Declared>,
) -> Result<(), FileError> {
    if by_mime.is_none() && by_name.is_none() {
        return Err(FileError::Undeclared);
    }
    for (declared, by) in [(by_mime, "content type"), (by_name, "file name")] {
        match declared {
            None => {}
            Some(Declared::Format(f)) if actual.matches(*f) => {}
            Some(Declared::Format(f)) => {
                return Err(FileError::Mismatch {
                    declared: f.name().to_owned(),
                    by,
                    actual: actual.name(),
                });
            }
            Some(Declared::Other(what)) => {
                return Err(FileError::Mismatch {
                    declared: what.clone(),
                    by,
                    actual: actual.name(),
                });
            }
        }
    }
    Ok(())
}

fn truncated(format: Format, why: &'static str) -> FileError {
    FileError::Truncated {
        format: format.name(),
        why,
    }
}

/// Reads exactly `buf.len()` bytes at `at`; false when the file ends first.
fn read_at<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> std::io::Result<bool> {
    r.seek(SeekFrom::Start(at))?;
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Structural check of a whole file of `len` bytes already recognised as `format`.
/// `Err(Ok(_))` is a refused file; `Err(Err(_))` an I/O failure.
pub fn check_structure<R: Read + Seek>(
    format: Format,
    r: &mut R,
    len: u64,
) -> Result<(), Result<FileError, std::io::Error>> {
    let bad = |why| Err(Ok(truncated(format, why)));
    match format {
        Format::Png => {
            let mut at = 8u64;
            let mut first = true;
            let mut idat = false;
            loop {
                let mut h = [0u8; 8];
                if !read_at(r, at, &mut h).map_err(Err)? {
                    return bad("no IEND chunk");
                }
                let n = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
                let kind = &h[4..8];
                let end = at + 8 + n + 4;
                if end > len {
                    return bad("a chunk runs past the end of the file");
                }
                if first && kind != b"IHDR" {
                    return bad("the first chunk is not IHDR");
                }
                first = false;
                idat |= kind == b"IDAT";
                if kind == b"IEND" {
                    if !idat {
                        return bad("no IDAT chunk");
                    }
                    if end != len {
                        return bad("data after the IEND chunk");
                    }
                    return Ok(());
                }
                at = end;
            }
        }
        Format::Jpeg => {
            let mut tail = [0u8; 2];
            if len < 4 || !read_at(r, len - 2, &mut tail).map_err(Err)? || tail != [0xFF, 0xD9] {
                return bad("no end-of-image marker (FF D9)");
            }
            Ok(())
        }
        Format::Gif => {
            let mut tail = [0u8; 1];
            if len < 14 || !read_at(r, len - 1, &mut tail).map_err(Err)? || tail != [0x3B] {
                return bad("no GIF trailer (3B)");
            }
            Ok(())
        }
        Format::Webp => {
            let mut h = [0u8; 4];
            if !read_at(r, 4, &mut h).map_err(Err)? {
                return bad("no RIFF header");
            }
            if u64::from(u32::from_le_bytes(h)) + 8 != len {
                return bad("the RIFF size does not match the file length");
            }
            Ok(())
        }
        Format::Mp4 | Format::Mov => {
            let mut at = 0u64;
            let (mut moov, mut mdat) = (false, false);
            while at < len {
                let mut h = [0u8; 8];
                if !read_at(r, at, &mut h).map_err(Err)? {
                    return bad("a box header is cut off");
                }
                let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
                let kind = [h[4], h[5], h[6], h[7]];
                let size = match size32 {
                    0 => len - at,
                    1 => {
                        let mut big = [0u8; 8];
                        if !read_at(r, at + 8, &mut big).map_err(Err)? {
                            return bad("a box header is cut off");
                        }
                        let s = u64::from_be_bytes(big);
                        if s < 16 {
                            return bad("a box has an impossible size");
                        }
                        s
                    }
                    s if s < 8 => return bad("a box has an impossible size"),
                    s => u64::from(s),
                };
                if at == 0 && format == Format::Mp4 && &kind != b"ftyp" {
                    return bad("the first box is not ftyp");
                }
                if at.checked_add(size).is_none_or(|end| end > len) {
                    return bad("the boxes do not add up to the file length");
                }
                moov |= &kind == b"moov";
                mdat |= &kind == b"mdat";
                at += size;
            }
            if !moov {
                return bad("no moov box");
            }
            if !mdat {
                return bad("no mdat box");
            }
            Ok(())
        }
    }
}

/// Generated files for unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A minimal valid PNG (1×1, one IDAT), CRCs zeroed (not checked).
    pub fn png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [
            (&b"IHDR"[..], vec![0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]),
            (b"IDAT", vec![0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]),
            (b"IEND", vec![]),
        ] {
            v.extend((data.len() as u32).to_be_bytes());
            v.extend(kind);
            v.extend(&data);
            v.extend([0u8; 4]);
        }
        v
    }

    /// A minimal valid MP4: ftyp, an empty moov, free, and an mdat of `mdat` bytes.
    pub fn mp4(mdat: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(20u32.to_be_bytes());
        v.extend(b"ftypisom\0\0\x02\0isom");
        v.extend(8u32.to_be_bytes());
        v.extend(b"moov");
        v.extend(8u32.to_be_bytes());
        v.extend(b"free");
        v.extend(((mdat + 8) as u32).to_be_bytes());
        v.extend(b"mdat");
        v.extend(vec![7u8; mdat]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{mp4, png};
    use super::*;
    use std::io::Cursor;

    fn check(bytes: &[u8]) -> Result<Format, FileError> {
        let f = sniff(bytes).ok_or(FileError::Unsupported)?;
        check_structure(f, &mut Cursor::new(bytes), bytes.len() as u64).map_err(|e| e.unwrap())?;
        Ok(f)
    }

    #[test]
    fn valid_files_pass() {
        assert_eq!(check(&png()), Ok(Format::Png));
        assert_eq!(check(&mp4(100)), Ok(Format::Mp4));
        assert_eq!(
            check(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\xFF\xD9"),
            Ok(Format::Jpeg)
        );
        assert_eq!(check(b"GIF89a\x01\0\x01\0\0\0\0;"), Ok(Format::Gif));
        assert_eq!(check(b"RIFF\x08\0\0\0WEBPVP8 "), Ok(Format::Webp));
    }

    #[test]
    fn truncated_files_fail() {
        let p = png();
        for cut in [p.len() - 12, p.len() - 1, 20, 8] {
            assert!(
                matches!(check(&p[..cut]), Err(FileError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut extra = p.clone();
        extra.push(0);
        assert!(check(&extra).is_err());
        let m = mp4(100);
        assert!(matches!(
            check(&m[..m.len() - 1]),
            Err(FileError::Truncated { .. })
        ));
        // moov only, no mdat.
        assert!(check(&m[..36]).is_err());
        assert!(check(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0").is_err());
        assert!(check(b"GIF89a\x01\0\x01\0\0\0\0").is_err());
    }

    #[test]
    fn declarations_must_agree() {
        let png_ct = declared_by_mime(Some("image/png"));
        assert_eq!(check_declared(Format::Png, png_ct.as_ref(), None), Ok(()));
        assert!(check_declared(Format::Jpeg, png_ct.as_ref(), None).is_err());
        let jpg = declared_by_name(Some("photo.JPG"));
        assert!(check_declared(Format::Png, None, jpg.as_ref()).is_err());
        assert_eq!(
            check_declared(Format::Png, None, None),
            Err(FileError::Undeclared)
        );
        assert_eq!(declared_by_mime(Some("application/octet-stream")), None);
        assert_eq!(declared_by_name(Some("upload")), None);
        let mov = declared_by_name(Some("clip.mov"));
        assert_eq!(check_declared(Format::Mp4, None, mov.as_ref()), Ok(()));
        let txt = declared_by_mime(Some("text/plain; charset=utf-8"));
        assert!(check_declared(Format::Png, txt.as_ref(), None).is_err());
    }

    #[test]
    fn limits_and_categories_follow_x() {
        assert_eq!(Format::Png.limit(), 5 * MB);
        assert_eq!(Format::Gif.limit(), 15 * MB);
        assert_eq!(Format::Mov.limit(), 512 * MB);
        assert_eq!(Format::Gif.category(), "tweet_gif");
        assert_eq!(Format::Mp4.category(), "amplify_video");
        assert_eq!(Format::Webp.category(), "tweet_image");
        assert_eq!(sniff(b"not a media file"), None);
    }
}
