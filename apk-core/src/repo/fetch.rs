//! Reading repository files wherever they live: a local path, `file://`, the
//! conformance runner's `test:` scheme, or `http://`/`https://` (ureq with rustls and
//! the Mozilla roots). Network reads have a connect and a per-read timeout (a stalled
//! server is given up on), are retried a few times on connection failures (never on an
//! HTTP error status), are bounded in size, and their errors name the URL.

use std::io::Read;
use std::time::Duration;

use crate::repo::Repository;
use apk_format::error::{Error, Result};

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
        Fetcher::with_tls_verification(timeout, true)
    }

    /// [`new`](Self::new), checking the certificates of `https://` servers or not
    /// (`--no-check-certificate`). A zero timeout is none, as in apk-tools' fetch
    /// library (`--timeout 0`).
    pub fn with_tls_verification(timeout: Duration, verify: bool) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(!verify)
            .build();
        let limit = (!timeout.is_zero()).then_some(timeout);
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_connect(limit)
            .timeout_per_read(limit)
            .timeout_recv_response(limit)
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
            // Server errors may pass; a missing file will not appear on a retry.
            return Err((describe_status(status), status >= 500));
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

    /// apk-tools' words for a failed request (its `apk_error_str`), and whether trying
    /// again could help.
    fn describe(&self, e: ureq::Error) -> (String, bool) {
        match e {
            ureq::Error::Timeout(_) => (
                format!("timed out after {} s", self.timeout.as_secs_f32()),
                true,
            ),
            ureq::Error::Io(io) => match io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                Some(tls) => (describe_tls(tls), false),
                None => (describe_io(&io, self.timeout), true),
            },
            ureq::Error::Rustls(tls) => (describe_tls(&tls), false),
            ureq::Error::Tls(_) => ("TLS: unspecified error".into(), false),
            ureq::Error::HostNotFound => ("DNS: name does not exist".into(), true),
            ureq::Error::ConnectionFailed => ("Connection refused".into(), true),
            ureq::Error::BadUri(_) => ("invalid URL (check your repositories file)".into(), false),
            other => (other.to_string(), false),
        }
    }
}

/// apk-tools' words for a TLS failure.
fn describe_tls(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "TLS: server hostname mismatch".into(),
        rustls::Error::InvalidCertificate(_) => "TLS: server certificate not trusted".into(),
        _ => "TLS: unspecified error".into(),
    }
}

/// apk-tools' words for an HTTP status other than 200.
fn describe_status(status: u16) -> String {
    let reason = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Timeout",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return "HTTP: unrecognized server error".into(),
    };
    format!("HTTP {status}: {reason}")
}

fn describe_io(e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            format!("timed out after {} s", timeout.as_secs_f32())
        }
        std::io::ErrorKind::UnexpectedEof => "truncated download".into(),
        // A failed name lookup: std keeps only getaddrinfo's message text (glibc's and
        // musl's words), which names the EAI_* code apk-tools translates.
        _ if e
            .to_string()
            .starts_with("failed to lookup address information") =>
        {
            let text = e.to_string();
            if text.contains("Temporary failure") || text.contains("try again") {
                "DNS: transient error (try again later)".into()
            } else if text.contains("No address associated") {
                "DNS: no address for host".into()
            } else if text.contains("family") {
                "DNS: address family for host not supported".into()
            } else if text.contains("not known") || text.contains("does not exist") {
                "DNS: name does not exist".into()
            } else {
                "DNS: non-recoverable failure".into()
            }
        }
        // The system's message, without Rust's "(os error N)".
        _ => match e.raw_os_error() {
            Some(_) => {
                let text = e.to_string();
                match text.rfind(" (os error ") {
                    Some(i) => text[..i].to_owned(),
                    None => text,
                }
            }
            None => e.to_string(),
        },
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
