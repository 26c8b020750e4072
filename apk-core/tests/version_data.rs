//! apk-tools' own version vectors (`test/unit/version.data` of the 3.0.6 sources): each
//! line is `VERSION` (valid), `!VERSION` (invalid), `A OP B` (the comparison holds) or
//! `A !OP B` (it does not), with `#` comments. Every line must hold for apk-rs.

use apk_format::dep::Op;
use apk_format::version;

/// Whether `a OP b` holds, OP as apk writes it (`<`, `<=`, `=`, `~`, `>~`, ...).
fn holds(a: &str, op: &str, b: &str) -> Option<bool> {
    let op = Op::parse(op)?;
    Some(op.matches(a, b))
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn apk_tools_version_vectors() {
    let Some(data) = apk_core::testing::apk_tools_source_file("test/unit/version.data") else {
        return;
    };
    let text = String::from_utf8(data).unwrap();
    let (mut checked, mut failed) = (0, Vec::new());
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        let ok = match words.as_slice() {
            [a, op, b] => {
                let (invert, op) = match op.strip_prefix('!') {
                    Some(op) => (true, op),
                    None => (false, *op),
                };
                holds(a, op, b).map(|r| r != invert)
            }
            [v] => Some(match v.strip_prefix('!') {
                Some(v) => !version::is_valid(v),
                None => version::is_valid(v),
            }),
            _ => None,
        };
        checked += 1;
        if ok != Some(true) {
            failed.push(line.to_owned());
        }
    }
    assert!(checked > 700, "only {checked} vectors read");
    assert!(
        failed.is_empty(),
        "{} of {checked} fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
