//! `abuild-rs lint` (common APKBUILD mistakes) and `abuild-rs checksum` (rewriting
//! `sha512sums` from the sources).

use std::path::Path;

use crate::apkbuild::Apkbuild;
use crate::build::{sha512_file, source_file, Failure};

/// Options abuild knows (APKBUILD(5)).
const KNOWN_OPTIONS: &[&str] = &[
    "!archcheck",
    "!spdx",
    "!usrmerge",
    "keepdirs",
    "sover-namecheck",
    "bigdocs",
    "charset.alias",
    "!check",
    "checkroot",
    "!dbg",
    "!fhs",
    "ldpath-recursive",
    "lib64",
    "libtool",
    "net",
    "!strip",
    "suid",
    "setcap",
    "textrels",
    "toolchain",
    "!tracedeps",
];

/// The problems found in an APKBUILD that reads correctly.
pub fn lint(b: &Apkbuild) -> Vec<String> {
    let mut out = Vec::new();
    let desc = b.var("pkgdesc");
    if desc.ends_with('.') {
        out.push("pkgdesc should not end with a period".to_owned());
    }
    if desc.to_lowercase().starts_with(&b.pkgname().to_lowercase()) {
        out.push("pkgdesc should not start with the package name".to_owned());
    }
    if b.var("maintainer").is_empty() {
        out.push("missing maintainer".to_owned());
    }
    let url = b.var("url");
    if !url.starts_with("https://") && !url.starts_with("http://") {
        out.push(format!("url '{url}' is not a web address"));
    }
    for o in b.options() {
        if !KNOWN_OPTIONS.contains(&o.as_str()) && o.matches(':').count() != 1 {
            out.push(format!("unknown option '{o}'"));
        }
    }
    for d in b.words("depends") {
        if d.starts_with("so:") || d.starts_with("cmd:") || d.starts_with("pc:") {
            out.push(format!(
                "depends entry '{d}' is traced automatically; remove it"
            ));
        }
    }
    for s in b.sources() {
        if s.is_remote() && !s.location.contains(b.var("pkgver")) {
            out.push(format!(
                "remote source '{}' does not name pkgver",
                s.filename
            ));
        }
    }
    let text = std::fs::read_to_string(b.startdir.join("APKBUILD")).unwrap_or_default();
    if text.contains("\t") && text.contains("\n    ") {
        out.push("mixes tabs and spaces for indentation".to_owned());
    }
    out
}

/// Recomputes `sha512sums` from the sources (fetched into `srcdest` when remote) and
/// rewrites the APKBUILD's `sha512sums="..."` block.
pub fn checksum(dir: &Path, srcdest: &Path) -> Result<String, Failure> {
    let file = dir.join("APKBUILD");
    let text =
        std::fs::read_to_string(&file).map_err(|e| Failure(format!("{}: {e}", file.display())))?;
    // The sources are read from the APKBUILD with sums that cannot match yet.
    let b = read_ignoring_sums(dir)?;
    let fetcher = apk_core::repo::fetch::Fetcher::default();
    let mut lines = Vec::new();
    for s in b.sources() {
        let path = source_file(&b, &s, srcdest, &fetcher)?;
        let sum = sha512_file(&path)
            .map_err(|e| Failure(format!("source '{}': {}: {e}", s.filename, path.display())))?;
        lines.push(format!("{sum}  {}", s.filename));
    }
    let block = format!("sha512sums=\"\n{}\n\"", lines.join("\n"));
    let new_text = match text.find("sha512sums=\"") {
        Some(start) => {
            let body = start + "sha512sums=\"".len();
            let end = text[body..]
                .find('"')
                .map(|e| body + e + 1)
                .ok_or_else(|| Failure(format!("{}: unterminated sha512sums", file.display())))?;
            format!("{}{block}{}", &text[..start], &text[end..])
        }
        None => format!("{}\n{block}\n", text.trim_end()),
    };
    apk_core::fs::atomic::write_atomically(&file, new_text.as_bytes())
        .map_err(|e| Failure(e.to_string()))?;
    Ok(block)
}

fn read_ignoring_sums(dir: &Path) -> Result<Apkbuild, Failure> {
    match Apkbuild::read(dir, apk_core::db::installed::native_arch()) {
        Ok(b) => Ok(b),
        Err(e) if e.0.contains("sha512sums") => {
            Apkbuild::read_unchecked(dir, apk_core::db::installed::native_arch())
                .map_err(|e| Failure(e.0))
        }
        Err(e) => Err(Failure(e.0)),
    }
}
