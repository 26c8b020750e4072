//! Reading repository files wherever they live: a local path, `file://`, the
//! conformance runner's `test:` scheme, or `http://`/`https://` (ureq with rustls and
//! the Mozilla roots). Network reads have a connect and a per-read timeout (a stalled
//! server is given up on), are retried a few times on connection failures (never on an
//! HTTP error status), are bounded in size, and their errors name the URL.

use std::io::Read;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::repo::Repository;

/// The most an index download may be (compressed; Alpine's largest are a few MiB).
pub const INDEX_LIMIT: u64 = 256 << 20;
/// The most a package download may be.
pub const PACKAGE_LIMIT: u64 = 4 << 30;

/// How many times a failed network read is tried again.
const RETRIES: u32 = 2;

#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(Duration::from_secs(60))
    }
}

/// True for URLs read over the network.
pub fn is_network(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

impl Fetcher {
    /// A fetcher giving up on a connection or a read after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .user_agent(concat!("apk-rs/", env!("CARGO_PKG_VERSION")))
            .http_status_as_error(false)
            .build();
        Fetcher {
            agent: config.into(),
            timeout,
        }
    }

    /// Reads the whole file at `url`, refusing more than `limit` bytes.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        if let Some(path) = Repository::local_path(url) {
            return read_local(path, limit);
        }
        if !is_network(url) {
            return Err(Error::format(url, "unsupported URL scheme"));
        }
        let mut attempt = 0;
        loop {
            match self.get_once(url, limit) {
                Ok(b) => return Ok(b),
                Err((msg, retry)) if retry && attempt < RETRIES => {
                    attempt += 1;
                    let _ = msg;
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                Err((msg, _)) => return Err(Error::format(url, msg)),
            }
        }
    }

    /// One try; the error says whether trying again could help.
    fn get_once(&self, url: &str, limit: u64) -> std::result::Result<Vec<u8>, (String, bool)> {
        let resp = self.agent.get(url).call().map_err(|e| self.describe(e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let reason = resp.status().canonical_reason().unwrap_or("");
            // Server errors may pass; a missing file will not appear on a retry.
            return Err((
                format!("HTTP {status} {reason}").trim_end().into(),
                status >= 500,
            ));
        }
        let declared = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err((format!("file larger than the {limit} byte limit"), false));
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| (describe_io(&e, self.timeout), true))?;
        if body.len() as u64 > limit {
            return Err((format!("file larger than the {limit} byte limit"), false));
        }
        if declared.is_some_and(|n| n != body.len() as u64) {
            return Err(("truncated download".into(), true));
        }
        Ok(body)
    }

    fn describe(&self, e: ureq::Error) -> (String, bool) {
        match e {
            ureq::Error::Timeout(_) => (
                format!("timed out after {} s", self.timeout.as_secs_f32()),
                true,
            ),
            ureq::Error::Io(io) => (describe_io(&io, self.timeout), true),
            ureq::Error::HostNotFound => ("host not found".into(), true),
            ureq::Error::ConnectionFailed => ("connection failed".into(), true),
            other => (other.to_string(), false),
        }
    }
}

fn describe_io(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("timed out after {} s", timeout.as_secs_f32())
        }
        std::io::ErrorKind::UnexpectedEof => "truncated download".into(),
        _ => e.to_string(),
    }
}

fn read_local(path: &str, limit: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > limit {
        return Err(Error::format(
            path,
            format!("file larger than the {limit} byte limit"),
        ));
    }
    Ok(out)
}
