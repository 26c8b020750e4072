//! apk-tools' own answers: every solver and query case of the shared conformance suite
//! must come out byte for byte the same.

mod common;

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn conformance_cases_match_apk_tools() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let runner = shared.join("conformance/run-solver-cases");
    let out = std::process::Command::new(runner)
        .arg(env!("CARGO_BIN_EXE_apk"))
        .output()
        .expect("run the conformance runner");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    assert!(out.status.success(), "conformance failures:\n{text}");
    assert!(last.ends_with(" 0 failed"), "{last}");
}
