//! Spooling an uploaded file to a temporary file while hashing and counting it, so memory stays
//! flat whatever the size. The format is recognised from the first bytes and checked against the
//! declared type at once; X's size limit for that format is enforced on every chunk, so an
//! oversize upload is refused as soon as it passes the limit, not after it was all received.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::sniff::{self, Declared, FileError, Format, SNIFF_LEN};

/// Why spooling failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file is refused.
    #[error(transparent)]
    File(#[from] FileError),
    /// The temporary file could not be written or read.
    #[error("spooling the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// A temporary file, removed when dropped.
#[derive(Debug)]
pub struct TempPath(PathBuf);

impl TempPath {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        // Best effort: a leftover file in the temp dir is harmless and cleaned by the OS.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A received, validated file on disk.
#[derive(Debug)]
pub struct Spooled {
    /// Where it is (removed with this value).
    pub path: TempPath,
    /// Its length in bytes.
    pub len: u64,
    /// Hex SHA-256 of its content.
    pub sha256: String,
    /// What it is.
    pub format: Format,
}

/// A file being received.
pub struct Spool {
    path: TempPath,
    out: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    len: u64,
    head: Vec<u8>,
    format: Option<Format>,
    by_mime: Option<Declared>,
    by_name: Option<Declared>,
}

/// Write buffer: large enough that the blocking-pool round trips of tokio's file stay few.
const WRITE_BUFFER: usize = 1024 * 1024;

impl Spool {
    /// Starts a spool file in `dir` for a part declared by `content_type` and `file_name`.
    pub async fn create(
        dir: &Path,
        content_type: Option<&str>,
        file_name: Option<&str>,
    ) -> Result<Spool, SpoolError> {
        let path = dir.join(format!("xads-upload-{:032x}.part", rand::random::<u128>()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await?;
        Ok(Spool {
            path: TempPath(path),
            out: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Sha256::new(),
            len: 0,
            head: Vec::with_capacity(SNIFF_LEN),
            format: None,
            by_mime: sniff::declared_by_mime(content_type),
            by_name: sniff::declared_by_name(file_name),
        })
    }

    fn recognise(&mut self) -> Result<Format, FileError> {
        let format = sniff::sniff(&self.head).ok_or(FileError::Unsupported)?;
        sniff::check_declared(format, self.by_mime.as_ref(), self.by_name.as_ref())?;
        self.format = Some(format);
        Ok(format)
    }

    /// Takes the next chunk of the file. Fails as soon as the content is not what was declared
    /// or passes the format's limit.
    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), SpoolError> {
        if self.format.is_none() {
            let take = (SNIFF_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            if self.head.len() == SNIFF_LEN {
                self.recognise()?;
            }
        }
        self.len += chunk.len() as u64;
        if let Some(f) = self.format
            && self.len > f.limit()
        {
            return Err(FileError::TooLarge {
                format: f.name(),
                limit: f.limit(),
            }
            .into());
        }
        self.hasher.update(chunk);
        self.out.write_all(chunk).await?;
        Ok(())
    }

    /// The file is complete: recognise it if it was shorter than the sniffing window, check its
    /// structure, and hand it over.
    pub async fn finish(mut self) -> Result<Spooled, SpoolError> {
        // Flushing hands every byte to the OS; the structural check and the upload read it back
        // through the page cache, so no fsync is needed for a file that dies with the request.
        self.out.flush().await?;
        if self.len == 0 {
            return Err(FileError::Empty.into());
        }
        let format = match self.format {
            Some(f) => f,
            None => self.recognise()?,
        };
        let path = self.path.path().to_owned();
        let len = self.len;
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::open(&path)?;
            Ok(sniff::check_structure(format, &mut f, len))
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(SpoolError::Io)?
        .map_err(|e| match e {
            Ok(file) => SpoolError::File(file),
            Err(io) => SpoolError::Io(io),
        })?;
        Ok(Spooled {
            path: self.path,
            len,
            sha256: hex::encode(self.hasher.finalize()),
            format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn spool(ct: &str, chunks: &[&[u8]]) -> Result<Spooled, SpoolError> {
        let mut s = Spool::create(&std::env::temp_dir(), Some(ct), None).await?;
        for c in chunks {
            s.push(c).await?;
        }
        s.finish().await
    }

    #[tokio::test]
    async fn a_file_is_hashed_counted_and_removed_with_its_value() {
        let png = super::super::sniff::tests_support::png();
        // Split mid-signature: recognition waits for the first SNIFF_LEN bytes.
        let s = spool("image/png", &[&png[..3], &png[3..]]).await.unwrap();
        assert_eq!(s.len, png.len() as u64);
        assert_eq!(s.sha256, hex::encode(Sha256::digest(&png)));
        assert_eq!(std::fs::read(s.path.path()).unwrap(), png);
        let path = s.path.path().to_owned();
        drop(s);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn refusals_come_while_streaming() {
        let png = super::super::sniff::tests_support::png();
        let e = spool("image/jpeg", &[&png]).await.unwrap_err();
        assert!(matches!(e, SpoolError::File(FileError::Mismatch { .. })));
        let e = spool("image/png", &[]).await.unwrap_err();
        assert!(matches!(e, SpoolError::File(FileError::Empty)));
        // The limit fails the push that passes it, long before a finish.
        let mut s = Spool::create(&std::env::temp_dir(), Some("image/png"), None)
            .await
            .unwrap();
        s.push(&png[..SNIFF_LEN]).await.unwrap();
        let block = vec![0u8; 1024 * 1024];
        let mut refused = None;
        for i in 0..10 {
            if let Err(e) = s.push(&block).await {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("refused");
        // 12 header bytes + 5 MiB is the first total over the 5 MB limit.
        assert_eq!(i, 4);
        assert!(matches!(e, SpoolError::File(FileError::TooLarge { .. })));
    }
}
