//! Files: fetched over HTTP(S) or read from a local path into the cache, by
//! sha256, and checked against the sha256 the lock (or the publisher's
//! checksum file) pins.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use meshbundle_core::digest::Digest;
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use crate::oci::cache::{BlobCache, CacheError};
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{name}: {url}: {message}")]
    Http { name: String, url: String, message: String },
    /// A request that got no answer, or an answer cut short: what was
    /// fetched, with the HTTP client's error kept whole.
    #[error("{name}: {url}: {what}")]
    Transfer {
        name: String,
        url: String,
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("{name}: {url} has sha256 {}, but {} is pinned", actual.hex(), expected.hex())]
    Mismatch {
        name: String,
        url: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot set up HTTP")]
    Setup(#[source] reqwest::Error),
}

pub struct Fetcher {
    http: reqwest::Client,
    /// URL prefix rewrites: `https://dl.k8s.io` -> `http://127.0.0.1:8000/dl.k8s.io`.
    mirrors: Vec<(String, String)>,
}

/// Whether a location is a local path rather than a URL.
pub fn is_local(url: &str) -> bool {
    url.starts_with("file://") || !url.contains("://")
}

fn local_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("file://").unwrap_or(url))
}

impl Fetcher {
    pub fn new(mirrors: Vec<(String, String)>) -> Result<Fetcher, FetchError> {
        crate::tls::install();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300))
            .user_agent(concat!("meshbundle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(FetchError::Setup)?;
        Ok(Fetcher { http, mirrors })
    }

    fn url(&self, url: &str) -> String {
        for (from, to) in &self.mirrors {
            if let Some(rest) = url.strip_prefix(from.as_str()) {
                return format!("{to}{rest}");
            }
        }
        url.to_string()
    }

    async fn get(&self, name: &str, url: &str) -> Result<reqwest::Response, FetchError> {
        let target = self.url(url);
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=6 {
            let outcome = self.http.get(&target).send().await;
            let retry = match &outcome {
                Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
            };
            if retry && attempt < 6 {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                continue;
            }
            let http_err = |message: String| FetchError::Http {
                name: name.into(),
                url: target.clone(),
                message,
            };
            let r = outcome.map_err(|source| FetchError::Transfer {
                name: name.into(),
                url: target.clone(),
                what: "no answer",
                source,
            })?;
            if !r.status().is_success() {
                return Err(http_err(format!("the server answered {}", r.status())));
            }
            return Ok(r);
        }
        unreachable!("the last attempt returns")
    }

    /// Puts the file at `url` into the cache; returns its digest and size.
    pub async fn fetch(
        &self,
        name: &str,
        url: &str,
        cache: &BlobCache,
        progress: &Progress,
    ) -> Result<(Digest, u64), FetchError> {
        if is_local(url) {
            let path = local_path(url);
            progress.add_total(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0));
            return Ok(cache.put_file(&path, progress)?);
        }
        let r = self.get(name, url).await?;
        if let Some(len) = r.content_length() {
            progress.add_total(len);
        }
        let tmp = cache.temp()?;
        let path = tmp.path().to_path_buf();
        let mut f = tokio::fs::File::create(&path).await.map_err(|source| CacheError::Io {
            path: path.clone(),
            source,
        })?;
        let mut h = <Sha256 as sha2::Digest>::new();
        let mut size = 0u64;
        let mut stream = r.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| FetchError::Transfer {
                name: name.into(),
                url: self.url(url),
                what: "the download broke off",
                source,
            })?;
            sha2::Digest::update(&mut h, &chunk);
            size += chunk.len() as u64;
            progress.inc(chunk.len() as u64);
            f.write_all(&chunk).await.map_err(|source| CacheError::Io {
                path: path.clone(),
                source,
            })?;
        }
        f.flush().await.map_err(|source| CacheError::Io {
            path: path.clone(),
            source,
        })?;
        drop(f);
        let digest = Digest::from_raw(&sha2::Digest::finalize(h).into());
        let (_, kept) = tmp.keep().map_err(|e| CacheError::Io {
            path: path.clone(),
            source: e.error,
        })?;
        if cache.contains(&digest, Some(size)) {
            let _ = std::fs::remove_file(&kept);
        } else {
            cache.commit(&kept, &digest, Some(size), name)?;
        }
        Ok((digest, size))
    }

    /// The sha256 a publisher's checksum file gives for `url` (a bare hash,
    /// or `hash  filename` lines). Publishers sometimes write the hex in
    /// upper case: it is lower-cased here, before it is checked as a digest.
    pub async fn published_sha256(&self, name: &str, checksum_url: &str, url: &str) -> Result<Digest, FetchError> {
        let text = if is_local(checksum_url) {
            std::fs::read_to_string(local_path(checksum_url)).map_err(|source| CacheError::Io {
                path: local_path(checksum_url),
                source,
            })?
        } else {
            self.get(name, checksum_url)
                .await?
                .text()
                .await
                .map_err(|source| FetchError::Transfer {
                    name: name.into(),
                    url: checksum_url.into(),
                    what: "the checksum file did not read",
                    source,
                })?
        };
        let file = url.rsplit('/').next().unwrap_or(url);
        let mut first = None;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let Some(hash) = parts
                .next()
                .and_then(|h| Digest::from_hex(&h.to_ascii_lowercase()).ok())
            else {
                continue;
            };
            let fname = parts.next().map(|f| f.trim_start_matches('*'));
            if fname.is_none_or(|f| f == file || f.ends_with(&format!("/{file}"))) {
                return Ok(hash);
            }
            first.get_or_insert(hash);
        }
        first
            .filter(|_| text.lines().count() == 1)
            .ok_or_else(|| FetchError::Http {
                name: name.into(),
                url: checksum_url.into(),
                message: format!("no sha256 for {file} in the checksum file"),
            })
    }
}

/// Checks a cached file's digest against a pinned one.
pub fn check_pinned(name: &str, url: &str, digest: &Digest, pinned: &Digest) -> Result<(), FetchError> {
    if digest == pinned {
        Ok(())
    } else {
        Err(FetchError::Mismatch {
            name: name.into(),
            url: url.into(),
            expected: pinned.clone(),
            actual: digest.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(text: &str, url: &str) -> Result<Digest, FetchError> {
        let dir = tempfile::tempdir().unwrap();
        let sums = dir.path().join("SHA256SUMS");
        std::fs::write(&sums, text).unwrap();
        let f = Fetcher::new(Vec::new()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(f.published_sha256("tool", sums.to_str().unwrap(), url))
    }

    #[test]
    fn checksum_files_are_lower_cased_then_checked() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        // Upper-case hex, as some publishers write it, is read as the same digest.
        let d = published(
            &format!("{}  tool-linux-amd64\n", hex.to_uppercase()),
            "https://example.com/v1/tool-linux-amd64",
        )
        .unwrap();
        assert_eq!(d.hex(), hex);
        // A bare hash.
        assert_eq!(
            published(&format!("{hex}\n"), "https://example.com/tool")
                .unwrap()
                .hex(),
            hex
        );
        // The line for the file asked for, not the first one.
        let other = "a".repeat(64);
        let text = format!("{other}  tool-linux-arm64\n{hex} *tool-linux-amd64\n");
        assert_eq!(
            published(&text, "https://example.com/tool-linux-amd64").unwrap().hex(),
            hex
        );
        // What is not 64 hex digits is no hash.
        for bad in [
            "$(touch /tmp/x)  tool",
            &format!("{}  tool", &hex[..63]),
            &format!("{hex}0  tool"),
        ] {
            assert!(
                published(&format!("{bad}\n"), "https://example.com/tool").is_err(),
                "{bad}"
            );
        }
    }
}
