//! What apk prints. [`serialize`]: apk-tools 3's three structured writers (the query
//! layout, JSON, YAML), which every query applet feeds through one view per package
//! (`query::engine::Engine::serialize`). This module: where messages go, standard
//! output or error, and, for applets that change a root, its log `var/log/apk.log` as
//! apk-tools keeps it (a `Running ...` header per run, then every message,
//! `--no-logfile` to leave it alone), and the progress bar apk-tools draws on standard
//! output while a commit runs.
//!
//! The writers are apk-tools' own rather than serde's: its JSON and YAML have their own
//! quoting, indentation and item-count comments (`# 1 items`), which generic serde
//! formats do not reproduce byte for byte; an applet's view calls the writer directly.

pub mod serialize;

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

static LOG: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// What the crate's print macros write: `args` to `stream`, a failure ignored (see
/// them in `main.rs`).
pub fn write_stream(stream: &mut impl Write, args: std::fmt::Arguments) {
    let _ = stream.write_fmt(args);
}

/// Opens (creating `var/log` if needed) the root's log and writes the run's header.
pub fn open_log(root: &Path) -> std::io::Result<()> {
    if LOG.lock().is_ok_and(|g| g.is_some()) {
        return Ok(());
    }
    let path = root.join("var/log/apk.log");
    let open = || {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
    };
    let mut file = match open() {
        Ok(f) => f,
        Err(_) => {
            std::fs::create_dir_all(root.join("var/log"))?;
            open()?
        }
    };
    let argv: Vec<String> = std::env::args().collect();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    writeln!(
        file,
        "\nRunning `{}` at {}\napk-rs {}, compiled for {}.",
        argv.join(" "),
        utc(secs),
        env!("CARGO_PKG_VERSION"),
        apk_core::db::installed::native_arch()
    )?;
    if let Ok(mut g) = LOG.lock() {
        *g = Some(file);
    }
    Ok(())
}

fn log(line: &str) {
    if let Ok(mut g) = LOG.lock() {
        if let Some(f) = g.as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A line of standard output, logged too.
pub fn out(line: &str) {
    let mut bar = lock_bar();
    let mut o = std::io::stdout().lock();
    if let Some(b) = bar.as_mut() {
        b.clear(&mut o);
    }
    let _ = writeln!(o, "{line}");
    if let Some(b) = bar.as_mut() {
        b.draw(&mut o, true);
    }
    log(line);
}

/// A line of standard error, logged too.
pub fn err(line: &str) {
    let mut bar = lock_bar();
    if let Some(b) = bar.as_mut() {
        b.clear(&mut std::io::stdout().lock());
    }
    eprintln!("{line}");
    if let Some(b) = bar.as_mut() {
        b.draw(&mut std::io::stdout().lock(), true);
    }
    log(line);
}

/// The progress bar, as apk-tools draws it on standard output: `NNN% ` and a bar the
/// width of the terminal (50 columns when that is unknown), drawn after saving the
/// cursor and wiped (cursor restored, line cleared) before anything else is printed,
/// then drawn again after it.
struct Bar {
    /// What one cell of the bar is drawn with.
    glyph: String,
    /// Cells in a full bar.
    cells: u64,
    max: u64,
    cur: u64,
    /// Cells and percentage last drawn.
    drawn: Option<(u64, u64)>,
    /// Drawn and not wiped yet.
    shown: bool,
}

static BAR: Mutex<Option<Bar>> = Mutex::new(None);

fn lock_bar() -> std::sync::MutexGuard<'static, Option<Bar>> {
    BAR.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bar {
    fn draw(&mut self, o: &mut impl Write, force: bool) {
        let (cells, percent) = match self.max {
            0 => (0, 0),
            max => (self.cells * self.cur / max, 100 * self.cur / max),
        };
        if !force && self.drawn == Some((cells, percent)) {
            return;
        }
        self.clear(o);
        self.drawn = Some((cells, percent));
        let mut line = format!("\x1b7{percent:>3}% ");
        for _ in 0..cells {
            line.push_str(&self.glyph);
        }
        line.push_str(&" ".repeat((self.cells - cells) as usize));
        let _ = o.write_all(line.as_bytes());
        let _ = o.flush();
        self.shown = true;
    }

    fn clear(&mut self, o: &mut impl Write) {
        if std::mem::take(&mut self.shown) {
            let _ = o.write_all(b"\x1b8\x1b[0K");
            let _ = o.flush();
        }
    }
}

/// Whether a bar is drawn when `--progress` or `--no-progress` does not say: when
/// standard output is a terminal whose `TERM` is not `dumb`.
pub fn progress_by_default() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var("TERM").ok().as_deref() != Some("dumb")
}

/// Starts a bar for `max` units of work.
pub fn progress_start(max: u64) {
    let env = |k: &str| std::env::var(k).ok();
    let glyph = env("APK_PROGRESS_CHAR").unwrap_or_else(|| {
        match env("LANG").is_some_and(|l| l.contains("UTF-8")) {
            true => "\u{2588}".to_owned(),
            false => "#".to_owned(),
        }
    });
    let columns = rustix::termios::tcgetwinsize(std::io::stdout())
        .map(|w| u64::from(w.ws_col))
        .ok()
        .filter(|&c| c > 25)
        .unwrap_or(50);
    // Drawn first by the next line printed or the first step.
    *lock_bar() = Some(Bar {
        glyph,
        cells: columns - 6,
        max,
        cur: 0,
        drawn: None,
        shown: false,
    });
}

/// `cur` of the bar's units done (at most its `max`).
pub fn progress_update(cur: u64) {
    if let Some(b) = lock_bar().as_mut() {
        b.cur = cur.min(b.max);
        b.draw(&mut std::io::stdout().lock(), false);
    }
}

/// Draws the bar full, then wipes it for good.
pub fn progress_end() {
    if let Some(mut b) = lock_bar().take() {
        let mut o = std::io::stdout().lock();
        b.cur = b.max;
        b.draw(&mut o, false);
        b.clear(&mut o);
    }
}

/// `WARNING: ...` on standard error, logged too.
pub fn warning(msg: impl std::fmt::Display) {
    err(&format!("WARNING: {msg}"));
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, as apk's log stamps a run.
fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        // `date -u -d @1700000000` says Tue Nov 14 22:13:20 UTC 2023.
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13:20");
        // `date -u -d @951782400`: 2000-02-29 00:00:00 (a leap day).
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
    }
}
