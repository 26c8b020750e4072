//! v3 (ADB) files made by apk-tools 3.0.6's own `mkpkg` and `mkndx` (signed with an RSA
//! key the test generates), read by apk-rs: `adbdump` must print what the reference
//! prints, in YAML and JSON, signature verdicts included.

mod common;

use std::path::Path;
use std::process::Command;

use common::twin;
use common::*;

fn reference(args: &[&str]) -> (i32, String, String) {
    let bin = twin::reference().expect("reference apk");
    let out = Command::new(bin)
        .args(args)
        .output()
        .expect("run reference apk");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A package tree with a script, a symlink and a config file, its v3 package (signed
/// and not) and an index of both, all made by the reference.
fn fixtures(dir: &Path) {
    let files = dir.join("files");
    std::fs::create_dir_all(files.join("usr/bin")).unwrap();
    std::fs::create_dir_all(files.join("etc")).unwrap();
    std::fs::write(files.join("usr/bin/hello"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(files.join("etc/hello.conf"), "conf=1\n").unwrap();
    std::os::unix::fs::symlink("hello", files.join("usr/bin/hi")).unwrap();
    std::fs::write(dir.join("post.sh"), "#!/bin/sh\necho post\n").unwrap();
    let key = dir.join("test.rsa");
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let ok = |cmd: &mut Command| assert!(cmd.status().expect("run openssl").success());
    ok(Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(std::process::Stdio::null()));
    ok(Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(keys.join("test.rsa.pub"))
        .stderr(std::process::Stdio::null()));
    let d = |p: &str| dir.join(p).display().to_string();
    let info = [
        "--info",
        "name:hello",
        "--info",
        "version:1.0-r0",
        "--info",
        "description:Hello world",
        "--info",
        "arch:x86_64",
        "--info",
        "license:MIT",
        "--info",
        "depends:so:libc.musl-x86_64.so.1 busybox>=1.36 !hello-old",
        "--info",
        "provides:cmd:hello=1.0-r0",
        "--info",
        "origin:hello",
        "--info",
        "build-time:1700000000",
    ];
    let mut plain = vec!["mkpkg"];
    plain.extend_from_slice(&info);
    let (files_s, post, out) = (
        d("files"),
        format!("post-install:{}", d("post.sh")),
        d("hello.apk"),
    );
    plain.extend_from_slice(&["--files", &files_s, "--script", &post]);
    plain.extend_from_slice(&["--trigger", "/usr/share/hello", "--output", &out]);
    assert_eq!(reference(&plain).0, 0, "mkpkg");
    let (key_s, signed) = (d("test.rsa"), d("signed.apk"));
    let mut s = vec!["--sign-key", &key_s, "mkpkg"];
    s.extend_from_slice(&info);
    s.extend_from_slice(&["--files", &files_s, "--output", &signed]);
    assert_eq!(reference(&s).0, 0, "mkpkg signed");
    // An ECDSA P-256 key, as OpenWrt signs with.
    let ec = dir.join("ec.key");
    ok(Command::new("openssl")
        .args([
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-noout",
            "-out",
        ])
        .arg(&ec)
        .stderr(std::process::Stdio::null()));
    ok(Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&ec)
        .arg("-out")
        .arg(keys.join("ec.key.pub"))
        .stderr(std::process::Stdio::null()));
    let (ec_s, ec_out) = (d("ec.key"), d("ec.apk"));
    let mut e = vec!["--sign-key", &ec_s, "mkpkg"];
    e.extend_from_slice(&info);
    e.extend_from_slice(&["--files", &files_s, "--output", &ec_out]);
    assert_eq!(reference(&e).0, 0, "mkpkg ec");
    let index = d("packages.adb");
    let (code, _, err) = reference(&[
        "--allow-untrusted",
        "--sign-key",
        &key_s,
        "mkndx",
        "--description",
        "test repo",
        "--output",
        &index,
        &out,
        &signed,
    ]);
    assert_eq!(code, 0, "mkndx: {err}");
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn adbdump_prints_what_apk_tools_prints() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    let keys = tmp.path().join("keys").display().to_string();
    for file in ["hello.apk", "signed.apk", "ec.apk", "packages.adb"] {
        let f = tmp.path().join(file).display().to_string();
        for extra in [
            &[][..],
            &["--format", "json"][..],
            &["--format", "yaml"][..],
        ] {
            // With the signing key trusted, and without (the verdict changes).
            for keys_dir in [keys.as_str(), "/nonexistent"] {
                let mut args = vec!["--keys-dir", keys_dir, "adbdump"];
                args.extend_from_slice(extra);
                args.push(&f);
                let (c1, o1, e1) = run(&args);
                let (c2, o2, e2) = reference(&args);
                assert_eq!((c1, &o1, &e1), (c2, &o2, &e2), "apk {args:?}");
                assert!(!o1.is_empty());
            }
        }
    }
    // The signed files were checked against the key (the verdict is in the dump).
    let signed = tmp.path().join("signed.apk").display().to_string();
    let (_, out, _) = run(&["--keys-dir", &keys, "adbdump", &signed]);
    assert!(out.contains("..: OK"), "{out}");
    let (_, out, _) = run(&["--keys-dir", "/nonexistent", "adbdump", &signed]);
    assert!(out.contains("..: UNTRUSTED signature"), "{out}");
    let ec = tmp.path().join("ec.apk").display().to_string();
    let (code, out, _) = run(&["--keys-dir", &keys, "verify", &ec]);
    assert_eq!((code, out.trim_end()), (0, format!("{ec}: OK").as_str()));
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn verify_and_extract_as_apk_tools_does() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    let keys = tmp.path().join("keys").display().to_string();
    let demo_keys = testdata().join("keys").display().to_string();
    let demo = demo_repo()
        .join("demo-lib-2.1-r0.apk")
        .display()
        .to_string();
    let f = |n: &str| tmp.path().join(n).display().to_string();
    // verify: trusted, untrusted, packages and the index.
    for file in ["hello.apk", "signed.apk", "ec.apk", "packages.adb"] {
        for keys_dir in [keys.as_str(), "/nonexistent"] {
            let args = ["--keys-dir", keys_dir, "verify", &f(file)];
            assert_eq!(run(&args), reference(&args), "apk {args:?}");
        }
    }
    // extract: the same steps into twin destinations, v3 and v2 packages.
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    std::fs::create_dir_all(&ours).unwrap();
    std::fs::create_dir_all(&theirs).unwrap();
    let steps: Vec<Vec<String>> = vec![
        vec![
            "--keys-dir".into(),
            keys.clone(),
            "extract".into(),
            f("signed.apk"),
        ],
        // Already there: "File exists", the run stops.
        vec![
            "--keys-dir".into(),
            keys.clone(),
            "extract".into(),
            f("signed.apk"),
        ],
        vec![
            "--force-overwrite".into(),
            "--allow-untrusted".into(),
            "extract".into(),
            f("hello.apk"),
        ],
        vec![
            "--keys-dir".into(),
            keys.clone(),
            "extract".into(),
            f("hello.apk"),
        ],
        vec![
            "--keys-dir".into(),
            demo_keys.clone(),
            "extract".into(),
            demo.clone(),
        ],
        vec!["--keys-dir".into(), demo_keys, "extract".into(), demo],
    ];
    for step in &steps {
        let with_dest = |d: &Path| {
            let mut a: Vec<String> = step.clone();
            let at = a.iter().position(|x| x == "extract").unwrap() + 1;
            a.insert(at, "--destination".into());
            a.insert(at + 1, d.display().to_string());
            a
        };
        let (a, b) = (with_dest(&ours), with_dest(&theirs));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (c1, o1, e1) = run(&a);
        let (c2, o2, e2) = reference(&b);
        let fix = |t: String| t.replace(s(&theirs), s(&ours));
        assert_eq!((c1, o1, e1), (c2, fix(o2), fix(e2)), "apk {step:?}");
        assert_eq!(
            twin::snapshot_tree(&ours),
            twin::snapshot_tree(&theirs),
            "trees after apk {step:?}"
        );
    }
    let missing = tmp.path().join("missing").display().to_string();
    let args = [
        "--allow-untrusted",
        "extract",
        "--destination",
        &missing,
        &f("hello.apk"),
    ];
    assert_eq!(run(&args), reference(&args));
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn v3_repository_in_twin_roots() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    // A repository of the signed v3 package and its index, both made by the reference.
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let key = tmp.path().join("test.rsa").display().to_string();
    let keys = tmp.path().join("keys").display().to_string();
    let index = repo.join("packages.adb").display().to_string();
    let pkg = repo.join("hello-1.0-r0.apk").display().to_string();
    let files = tmp.path().join("files").display().to_string();
    let post = format!("post-install:{}", tmp.path().join("post.sh").display());
    let (code, _, err) = reference(&[
        "--sign-key",
        &key,
        "mkpkg",
        "--info",
        "name:hello",
        "--info",
        "version:1.0-r0",
        "--info",
        "arch:x86_64",
        "--info",
        "description:Hello world",
        "--files",
        &files,
        "--script",
        &post,
        "--trigger",
        "/usr/share/hello",
        "--output",
        &pkg,
    ]);
    assert_eq!(code, 0, "mkpkg: {err}");
    let (code, _, err) = reference(&[
        "--keys-dir",
        &keys,
        "--sign-key",
        &key,
        "mkndx",
        "--description",
        "v3 test",
        "--output",
        &index,
        &pkg,
    ]);
    assert_eq!(code, 0, "mkndx: {err}");
    let pubkey = tmp.path().join("keys/test.rsa.pub");
    let Some(mut t) = twin::Twin::new(&tmp.path().join("roots"), &["--no-scripts"], |r| {
        std::fs::create_dir_all(r.join("etc/apk/keys")).unwrap();
        std::fs::copy(&pubkey, r.join("etc/apk/keys/test.rsa.pub")).unwrap();
        std::fs::write(r.join("etc/apk/repositories"), format!("{index}\n")).unwrap();
    }) else {
        return;
    };
    t.step_same(&["--initdb", "add"]);
    t.step(&["search", "-v", "hello"]);
    t.step(&["policy", "hello"]);
    t.step(&["query", "--format", "json", "--fields", "all", "hello"]);
    t.step(&["info", "-a", "hello"]);
    let (code, out) = t.step_same(&["add", "hello"]);
    assert_eq!(code, 0, "{out}");
    assert!(t.ours.join("usr/bin/hello").exists(), "{out}");
    t.step(&["info", "-a", "hello"]);
    t.step(&["list", "-I"]);
    t.swap();
    t.step_same(&["del", "hello"]);
    t.swap();
    t.step_same(&["add", "hello"]);
    t.step(&["audit"]);
    // Its files' digests are SHA-256 cut to 160 bits (`f:S`), and named so.
    let (_, out) = t.step(&["manifest", "hello"]);
    assert!(out.contains("sha256-160:"), "{out}");
    // A changed file's digest on disk is shown the same way.
    for r in [&t.ours, &t.theirs] {
        std::fs::write(r.join("usr/bin/hello"), "#!/bin/sh\necho changed\n").unwrap();
    }
    let (_, out) = t.step(&["audit", "--system", "--details"]);
    assert!(out.contains("U usr/bin/hello"), "{out}");
    t.step_same(&["fix", "hello"]);
    // The package file itself, named on the command line: known by its unique id.
    t.step_same(&["del", "hello"]);
    t.step_same(&["add", &pkg]);
    t.step(&["info", "-a", "hello"]);
    t.step(&["audit"]);
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn mkpkg_records_extended_attributes_as_apk_tools() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(files.join("d")).unwrap();
    std::fs::write(files.join("d/file"), "x\n").unwrap();
    std::fs::write(files.join("top"), "y\n").unwrap();
    std::os::unix::fs::symlink("top", files.join("link")).unwrap();
    let set = |p: &Path, n: &str, v: &[u8]| xattr_set(p, n, v);
    if !set(&files.join("d/file"), "user.b", b"2") {
        println!("notice: no user extended attributes on this file system; skipped");
        return;
    }
    set(&files.join("d/file"), "user.a", b"1");
    set(&files.join("d"), "user.dir", b"xx");
    set(&files, "user.root", b"");
    let f = files.display().to_string();
    for extra in [&[][..], &["--no-xattrs"][..]] {
        let (ours, theirs) = (
            tmp.path().join("ours.apk").display().to_string(),
            tmp.path().join("theirs.apk").display().to_string(),
        );
        let args = |o: &str| -> Vec<String> {
            let mut v: Vec<String> = [
                "--allow-untrusted",
                "mkpkg",
                "-I",
                "name:x",
                "-I",
                "version:1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            v.extend(extra.iter().map(|s| s.to_string()));
            v.extend(["-I", "arch:x86_64", "-F", &f, "-o", o].map(String::from));
            v
        };
        let a = args(&ours);
        let b = args(&theirs);
        assert_eq!(run(&a.iter().map(String::as_str).collect::<Vec<_>>()).0, 0);
        assert_eq!(
            reference(&b.iter().map(String::as_str).collect::<Vec<_>>()).0,
            0
        );
        assert!(
            unpacked(Path::new(&ours)) == unpacked(Path::new(&theirs)),
            "mkpkg {extra:?}"
        );
    }
    // Installed: the attributes set on the files, their digests in `a:` and `M:`, as
    // apk-tools sets and records them.
    let (_, _, err) = reference(&[
        "--allow-untrusted",
        "mkpkg",
        "-I",
        "name:x",
        "-I",
        "version:1",
        "-I",
        "arch:x86_64",
        "-F",
        &f,
        "-o",
        &tmp.path().join("x.apk").display().to_string(),
    ]);
    let pkg = tmp.path().join("x.apk").display().to_string();
    assert!(err.is_empty(), "{err}");
    let Some(t) = twin::Twin::new(&tmp.path().join("roots"), &["--allow-untrusted"], |_| {}) else {
        return;
    };
    t.step_same(&["--initdb", "add", &pkg]);
    t.step_same(&["audit"]);
    for root in [&t.ours, &t.theirs] {
        let mut names: Vec<String> = xattr::list(root.join("d/file"))
            .unwrap()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["user.a", "user.b"], "{}", root.display());
        // Changed attributes are what `audit` reports (`x`).
        xattr::remove(root.join("d/file"), "user.a").unwrap();
    }
    let (_, out) = t.step_same(&["audit", "--system"]);
    assert!(out.contains("x d/file"), "{out}");
}

/// Sets an extended attribute (false when the file system refuses).
fn xattr_set(p: &Path, name: &str, value: &[u8]) -> bool {
    xattr::set(p, name, value).is_ok()
}

/// The uncompressed bytes of an ADB file.
fn unpacked(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    apk_format::adb::decompress(&bytes, "test")
        .unwrap()
        .0
        .into_owned()
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn mkndx_writes_what_apk_tools_writes() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    let f = |n: &str| tmp.path().join(n).display().to_string();
    let (key, keys) = (f("test.rsa"), f("keys"));
    let pkgs = [f("hello.apk"), f("signed.apk"), f("ec.apk")];
    for (name, extra) in [
        ("plain", vec!["--allow-untrusted"]),
        (
            "signed",
            vec![
                "--allow-untrusted",
                "--sign-key",
                key.as_str(),
                "--description",
                "x y",
            ],
        ),
    ] {
        let (ours, theirs) = (
            f(&format!("{name}-ours.adb")),
            f(&format!("{name}-theirs.adb")),
        );
        let args = |out: &str| {
            let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            let at = a
                .iter()
                .position(|x| x == "--description")
                .unwrap_or(a.len());
            a.insert(at.min(a.len()), "mkndx".into());
            a.extend(["--output".into(), out.to_string()]);
            a.extend(pkgs.iter().cloned());
            a
        };
        let (a, b) = (args(&ours), args(&theirs));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (c1, o1, e1) = run(&a);
        let (c2, o2, e2) = reference(&b);
        assert_eq!((c1, o1, e1), (c2, o2, e2), "apk {a:?}");
        // The same file, byte for byte once unpacked (the deflate encoders differ),
        // so the reference dumps and verifies it as its own.
        assert_eq!(
            unpacked(Path::new(&ours)),
            unpacked(Path::new(&theirs)),
            "{name}"
        );
        let dump = |p: &str| reference(&["--keys-dir", &keys, "adbdump", p]);
        assert_eq!(dump(&ours), dump(&theirs));
        let verify = |p: &str| reference(&["--keys-dir", &keys, "verify", p]).0;
        assert_eq!(verify(&ours), verify(&theirs));
    }
    // Untrusted packages stop it as they stop apk-tools.
    let (o, t) = (f("x-ours.adb"), f("x-theirs.adb"));
    let a = ["--keys-dir", &keys, "mkndx", "--output", &o, &pkgs[0]];
    let b = ["--keys-dir", &keys, "mkndx", "--output", &t, &pkgs[0]];
    assert_eq!(run(&a), reference(&b));
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn mkpkg_writes_what_apk_tools_writes() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fixtures(tmp.path());
    let f = |n: &str| tmp.path().join(n).display().to_string();
    // A hard link and an empty folder besides the fixture's file, symlink and config.
    let files = tmp.path().join("files");
    std::fs::hard_link(files.join("usr/bin/hello"), files.join("usr/bin/hello2")).unwrap();
    std::fs::create_dir_all(files.join("var/empty")).unwrap();
    let (key, keys, files_s) = (f("test.rsa"), f("keys"), f("files"));
    let post = format!("post-install:{}", f("post.sh"));
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "--info",
            "name:x",
            "--info",
            "version:2",
            "--files",
            &files_s,
        ],
        vec![
            "--info",
            "name:hello",
            "--info",
            "version:1.0-r0",
            "--info",
            "description:Hi",
            "--info",
            "license:MIT",
            "--info",
            "depends:busybox>=1.36 so:libc.so.1 !old a<2",
            "--info",
            "provides:cmd:hello=1.0-r0",
            "--info",
            "build-time:1700000000",
            "--files",
            &files_s,
            "--script",
            &post,
            "--trigger",
            "/usr/share/hello",
        ],
        vec![
            "--info",
            "name:meta",
            "--info",
            "version:1",
            "--info",
            "depends:x",
        ],
    ];
    for (n, case) in cases.iter().enumerate() {
        for signed in [false, true] {
            let (ours, theirs) = (
                f(&format!("{n}{signed}-o.apk")),
                f(&format!("{n}{signed}-t.apk")),
            );
            let args = |out: &str| {
                let mut a: Vec<String> = Vec::new();
                if signed {
                    a.extend(["--sign-key".into(), key.clone()]);
                }
                a.push("mkpkg".into());
                a.extend(case.iter().map(|s| s.to_string()));
                a.extend(["--output".into(), out.to_string()]);
                a
            };
            let (a, b) = (args(&ours), args(&theirs));
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let b: Vec<&str> = b.iter().map(String::as_str).collect();
            assert_eq!(run(&a), reference(&b), "apk {a:?}");
            assert_eq!(
                unpacked(Path::new(&ours)),
                unpacked(Path::new(&theirs)),
                "apk {a:?}"
            );
            let verify = |p: &str| reference(&["--keys-dir", &keys, "verify", p]);
            assert_eq!(verify(&ours).0, verify(&theirs).0);
        }
    }
    // A bad field is refused (status 99).
    let bad = [
        "mkpkg",
        "--info",
        "name:x",
        "--info",
        "version:not_a_version",
        "--output",
        "/dev/null",
    ];
    assert_eq!(run(&bad).0, reference(&bad).0);
}

/// Runs `args` through apk-rs and the reference in `dir`, each writing its own copy of
/// the file `OUT` names (`{out}` in the arguments); the two runs must print the same
/// and exit alike, and the files must be the same once unpacked.
fn mkndx_twin(dir: &Path, name: &str, args: &[&str]) -> (i32, String) {
    let out_arg = |who: &str| format!("{name}-{who}.adb");
    let with = |who: &str| -> Vec<String> {
        args.iter()
            .map(|a| a.replace("{out}", &out_arg(who)))
            .collect()
    };
    let go = |bin: &Path, args: &[String]| {
        let o = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).replace(&out_arg("ours"), "OUT"),
            String::from_utf8_lossy(&o.stderr).replace(&out_arg("ours"), "OUT"),
        )
    };
    let ours = go(Path::new(env!("CARGO_BIN_EXE_apk")), &with("ours"));
    let mut theirs = go(&twin::reference().unwrap(), &with("theirs"));
    theirs.1 = theirs.1.replace(&out_arg("theirs"), "OUT");
    theirs.2 = theirs.2.replace(&out_arg("theirs"), "OUT");
    // The reference was built without help text and says so after a usage error
    // (apk-rs has help: a difference README lists).
    if theirs.1.starts_with("apk-tools 3.0.6, compiled for") {
        theirs.1.clear();
        theirs.2 = theirs
            .2
            .replace("ERROR: This apk-tools has been built without help\n", "");
    }
    assert_eq!(ours, theirs, "{name}: apk {args:?}");
    let (a, b) = (dir.join(out_arg("ours")), dir.join(out_arg("theirs")));
    assert_eq!(a.exists(), b.exists(), "{name}: output written by one only");
    if a.exists() {
        assert!(unpacked(&a) == unpacked(&b), "{name}: index differs");
    }
    (ours.0, ours.1)
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn mkndx_options_as_apk_tools_has_them() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixtures(dir);
    // Real Alpine v2 packages, signed by Alpine's key.
    let real = shared.join("realdata/alpine-3.19.1/x86_64");
    let v2 = [
        "busybox-1.36.1-r15.apk",
        "musl-1.2.4_git20230717-r4.apk",
        "alpine-baselayout-3.4.3-r2.apk",
        "alpine-base-3.19.1-r0.apk",
    ];
    for p in v2 {
        std::fs::copy(real.join(p), dir.join(p)).unwrap();
    }
    let alpine_keys = shared.join("realdata/keys").display().to_string();
    let untrusted = "--allow-untrusted";
    let mut checks = 0;
    let mut twin_run = |name: &str, args: &[&str]| {
        checks += 1;
        mkndx_twin(dir, name, args)
    };
    // v2 packages, signatures checked against Alpine's keys.
    let mut a = vec!["--keys-dir", &alpine_keys, "mkndx", "-o", "{out}"];
    a.extend(v2);
    assert_eq!(twin_run("v2", &a).0, 0);
    // v2 and v3 together; a v3 identity cut to 160 bits; verbose.
    let mut a = vec![
        untrusted,
        "mkndx",
        "-vv",
        "--hash",
        "sha256-160",
        "-o",
        "{out}",
    ];
    a.extend(v2);
    a.extend(["hello.apk", "signed.apk"]);
    twin_run("mixed", &a);
    // A name specification kept in the index; files not named by it are warned of.
    let mut a = vec![
        untrusted,
        "mkndx",
        "--pkgname-spec",
        "${arch}/${name}-${version}.apk",
        "-o",
        "{out}",
    ];
    a.extend(v2);
    twin_run("spec", &a);
    // Incremental: an older index (the reference's) reused for unchanged files.
    let mut a = vec![untrusted.to_string(), "mkndx".into(), "-o".into()];
    a.push(dir.join("old.adb").display().to_string());
    a.extend(v2[..2].iter().map(|p| dir.join(p).display().to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert_eq!(reference(&a).0, 0);
    let mut a = vec![untrusted, "mkndx", "-vv", "-x", "old.adb", "-o", "{out}"];
    a.extend(v2);
    twin_run("incremental", &a);
    // Packages taken from the older index only, by a filter specification.
    twin_run(
        "filter",
        &[
            untrusted,
            "mkndx",
            "-vv",
            "-x",
            "old.adb",
            "--filter-spec",
            "${name}-${version}",
            "-o",
            "{out}",
            "busybox-1.36.1-r15",
            "nope-1.0",
        ],
    );
    // Refusals.
    for (name, args) in [
        (
            "badhash",
            vec![untrusted, "mkndx", "--hash", "sha1", "-o", "{out}"],
        ),
        (
            "rewrite",
            vec![
                untrusted,
                "mkndx",
                "--rewrite-arch",
                "x86_64",
                "-o",
                "{out}",
            ],
        ),
        (
            "filternoindex",
            vec![
                untrusted,
                "mkndx",
                "--filter-spec",
                "${name}",
                "-o",
                "{out}",
            ],
        ),
        (
            "missing",
            vec![untrusted, "mkndx", "-o", "{out}", "nope.apk"],
        ),
        (
            "noindex",
            vec![untrusted, "mkndx", "-x", "nope.adb", "-o", "{out}"],
        ),
        (
            "untrusted",
            vec![
                "--keys-dir",
                &alpine_keys,
                "mkndx",
                "-o",
                "{out}",
                "hello.apk",
            ],
        ),
    ] {
        let (code, _) = twin_run(name, &args);
        assert_ne!(code, 0, "{name}");
    }
    println!("mkndx: {checks} runs identical to apk-tools");
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn compression_variants_as_apk_tools_writes_and_reads_them() {
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let f = |n: &str| tmp.path().join(n).display().to_string();
    let mut checks = 0;
    for spec in [
        "none",
        "deflate",
        "deflate:1",
        "deflate:9",
        "zstd",
        "zstd:3",
        "zstd:22",
    ] {
        let (ours, theirs) = (f("ours.apk"), f("theirs.apk"));
        let args = |out: &str| -> Vec<String> {
            [
                "--allow-untrusted",
                "--compression",
                spec,
                "mkpkg",
                "-I",
                "name:z",
                "-I",
                "version:1.0",
                "-I",
                "arch:x86_64",
                "-o",
                out,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let a = args(&ours);
        let b = args(&theirs);
        assert_eq!(run(&a.iter().map(String::as_str).collect::<Vec<_>>()).0, 0);
        assert_eq!(
            reference(&b.iter().map(String::as_str).collect::<Vec<_>>()).0,
            0
        );
        // The same header (algorithm and level), the same contents once unpacked.
        let head = |p: &str| std::fs::read(p).unwrap()[..6].to_vec();
        assert_eq!(head(&ours), head(&theirs), "{spec}");
        assert!(
            unpacked(Path::new(&ours)) == unpacked(Path::new(&theirs)),
            "{spec}"
        );
        // Each tool reads the other's file as it reads its own.
        for p in [&ours, &theirs] {
            let dump = ["--allow-untrusted", "adbdump", p.as_str()];
            assert_eq!(run(&dump), reference(&dump), "{spec}: adbdump {p}");
            let verify = ["--allow-untrusted", "verify", p.as_str()];
            assert_eq!(run(&verify), reference(&verify), "{spec}: verify {p}");
            checks += 2;
        }
    }
    let bad = ["mkpkg", "--compression", "zstd:23"];
    assert_eq!(run(&bad), reference(&bad));
    println!("compression: {checks} comparisons identical");
}

/// Runs `args` with apk-rs and the reference in `dir`, returning both results with
/// standard output as bytes.
/// Exit code, standard output, standard error.
type Ran = (i32, Vec<u8>, String);

fn both_in(dir: &Path, args: &[&str]) -> (Ran, Ran) {
    let go = |bin: &Path| {
        let o = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            o.stdout,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    (
        go(Path::new(env!("CARGO_BIN_EXE_apk"))),
        go(&twin::reference().unwrap()),
    )
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn convndx_and_adbsign_as_apk_tools() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixtures(dir);
    let alpine_keys = shared.join("realdata/keys").display().to_string();
    let mut checks = 0;
    // Real Alpine indexes (the 3.16 one has versions apk-tools cannot convert, kept as
    // its error values), checked against Alpine's keys; then one not trusted.
    for idx in [
        shared.join("realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz"),
        shared.join("realdata/alpine-3.19.1/x86_64/APKINDEX.tar.gz"),
    ] {
        let i = idx.display().to_string();
        let (ours, theirs) = both_in(dir, &["--keys-dir", &alpine_keys, "convndx", &i]);
        assert_eq!((ours.0, &ours.2), (theirs.0, &theirs.2), "convndx {i}");
        let unpack = |b: &[u8]| apk_format::adb::decompress(b, "t").unwrap().0.into_owned();
        assert!(unpack(&ours.1) == unpack(&theirs.1), "convndx {i}");
        checks += 1;
        let (ours, theirs) = both_in(dir, &["convndx", &i]);
        assert_eq!(
            (ours.0, ours.2),
            (theirs.0, theirs.2),
            "untrusted convndx {i}"
        );
        checks += 1;
    }
    // adbsign: a package with data blocks and an index, signatures kept or reset,
    // compression kept or changed; RSA signatures are deterministic, so the files
    // must be the same byte for byte.
    let key = dir.join("test.rsa").display().to_string();
    let keys = dir.join("keys").display().to_string();
    for src in ["hello.apk", "signed.apk", "packages.adb"] {
        for extra in [
            &[][..],
            &["--reset-signatures"][..],
            &["--compression", "none"][..],
        ] {
            let (a, b) = (format!("a-{src}"), format!("b-{src}"));
            std::fs::copy(dir.join(src), dir.join(&a)).unwrap();
            std::fs::copy(dir.join(src), dir.join(&b)).unwrap();
            let args = |f: &str| -> Vec<String> {
                let mut v: Vec<String> = ["--allow-untrusted", "--sign-key", &key, "adbsign"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                v.extend(extra.iter().map(|s| s.to_string()));
                v.push(f.to_string());
                v
            };
            let ours = Command::new(env!("CARGO_BIN_EXE_apk"))
                .args(args(&a))
                .current_dir(dir)
                .output()
                .unwrap();
            let theirs = Command::new(twin::reference().unwrap())
                .args(args(&b))
                .current_dir(dir)
                .output()
                .unwrap();
            let err =
                |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).replace("a-", "b-");
            assert_eq!(ours.status.code(), theirs.status.code(), "{src} {extra:?}");
            assert_eq!(err(&ours), err(&theirs), "{src} {extra:?}");
            assert!(
                unpacked(&dir.join(&a)) == unpacked(&dir.join(&b)),
                "adbsign {src} {extra:?}"
            );
            let verify = |f: &str| {
                reference(&[
                    "--keys-dir",
                    &keys,
                    "verify",
                    &dir.join(f).display().to_string(),
                ])
                .0
            };
            assert_eq!(verify(&a), verify(&b));
            checks += 2;
        }
    }
    // A file that does not verify is reported alike; apk-rs leaves it as it was, where
    // apk-tools 3.0.6 leaves a truncated file behind (README lists the difference).
    std::fs::copy(dir.join("hello.apk"), dir.join("u.apk")).unwrap();
    let before = std::fs::read(dir.join("u.apk")).unwrap();
    let args = ["--keys-dir", &keys, "--sign-key", &key, "adbsign", "u.apk"];
    let (ours, theirs) = both_in(dir, &args);
    assert_eq!((ours.0, ours.2), (theirs.0, theirs.2));
    std::fs::copy(dir.join("hello.apk"), dir.join("u.apk")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_apk"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read(dir.join("u.apk")).unwrap(), before);
    println!("convndx/adbsign: {checks} comparisons identical");
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn adbgen_makes_what_apk_tools_makes() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fixtures(dir);
    // Dumps (by the reference) of: packages with scripts, files and signatures, an
    // index, indexes converted from Alpine's (one with values apk-tools keeps as
    // errors), and an installed database (nested databases) made by apk-tools' convdb.
    let mut inputs = vec![
        dir.join("hello.apk"),
        dir.join("signed.apk"),
        dir.join("packages.adb"),
    ];
    for (name, idx) in [
        (
            "a316.adb",
            "realdata/alpine-3.16-main-x86_64/APKINDEX.tar.gz",
        ),
        ("a319.adb", "realdata/alpine-3.19.1/x86_64/APKINDEX.tar.gz"),
    ] {
        let i = shared.join(idx).display().to_string();
        let (code, out, _) = {
            let o = Command::new(twin::reference().unwrap())
                .args(["--allow-untrusted", "convndx", &i])
                .output()
                .unwrap();
            (o.status.code(), o.stdout, o.stderr)
        };
        assert_eq!(code, Some(0));
        std::fs::write(dir.join(name), out).unwrap();
        inputs.push(dir.join(name));
    }
    // An installed database: hello installed by the reference, converted by it.
    let root = dir.join("root");
    let keys = dir.join("keys").display().to_string();
    let r = root.display().to_string();
    // (A package without scripts: apk-tools' convdb writes a broken database for one
    // with them.)
    let pkg = dir.join("plain.apk").display().to_string();
    let files = dir.join("files").display().to_string();
    let made = reference(&[
        "--allow-untrusted",
        "mkpkg",
        "-I",
        "name:plain",
        "-I",
        "version:1",
        "-I",
        "arch:x86_64",
        "-F",
        &files,
        "-o",
        &pkg,
    ]);
    assert_eq!(made.0, 0, "{}", made.2);
    let (code, _, err) = reference(&[
        "--root",
        &r,
        "--initdb",
        "--keys-dir",
        &keys,
        "--allow-untrusted",
        "--arch",
        "x86_64",
        "add",
        &pkg,
    ]);
    assert_eq!(code, 0, "{err}");
    let o = Command::new(twin::reference().unwrap())
        .args(["--root", &r, "convdb"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    inputs.push(dir.join("installed.adb"));
    let mut checks = 0;
    for input in &inputs {
        let dump = reference(&["--allow-untrusted", "adbdump", &input.display().to_string()]);
        assert_eq!(dump.0, 0, "adbdump {}: {}", input.display(), dump.2);
        let yaml = dir.join("dump.yaml");
        std::fs::write(&yaml, &dump.1).unwrap();
        let y = yaml.display().to_string();
        let (ours, theirs) = both_in(dir, &["adbgen", &y]);
        assert_eq!(ours.0, theirs.0, "{}", input.display());
        assert!(
            ours.1 == theirs.1,
            "adbgen of {}'s dump differs",
            input.display()
        );
        checks += 1;
    }
    println!("adbgen: {checks} files identical to apk-tools'");
}

#[cfg_attr(
    no_shared,
    ignore = "needs the shared material: ../shared or $APK_RS_SHARED"
)]
#[test]
fn convdb_converts_as_apk_tools() {
    let Some(shared) = apk_core::testing::shared_dir() else {
        return;
    };
    if twin::reference().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Alpine's alpine-base installed by apk-tools.
    let root = dir.join("root");
    let r = root.display().to_string();
    let keys = shared.join("realdata/keys").display().to_string();
    let repo = shared.join("realdata/alpine-3.19.1").display().to_string();
    let (code, _, err) = reference(&[
        "--root",
        &r,
        "--initdb",
        "--arch",
        "x86_64",
        "--no-scripts",
        "--keys-dir",
        &keys,
        "-X",
        &repo,
        "add",
        "alpine-base",
    ]);
    assert_eq!(code, 0, "{err}");
    let convert = |who: &str| -> Vec<u8> {
        let out = dir.join(who);
        std::fs::create_dir_all(&out).unwrap();
        let bin = if who == "ours" {
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_apk"))
        } else {
            twin::reference().unwrap()
        };
        let o = Command::new(bin)
            .args(["--root", &r, "convdb"])
            .current_dir(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        unpacked(&out.join("installed.adb"))
    };
    assert!(
        convert("ours") == convert("theirs"),
        "installed.adb differs"
    );
    // With the scripts archive uncompressed and named by `Q1` identities (as apk-tools
    // 2 names them), which apk-tools' convdb matches against `C:`.
    let db = root.join("lib/apk/db");
    let gz = std::fs::read(db.join("scripts.tar.gz")).unwrap();
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar).unwrap();
    let entries = apk_format::v2::archive::read_small_tar(&tar, "scripts").unwrap();
    let mut w = apk_format::v2::archive::TarWriter::new(apk_format::v2::archive::TarFlavor::Apk);
    let mut renamed = 0;
    for e in entries {
        let name: Vec<String> = e
            .header
            .path
            .split('.')
            .map(|p| match p.strip_prefix("X1") {
                Some(hex) if hex.len() == 40 => {
                    renamed += 1;
                    let bytes = apk_format::checksum::decode_hex(hex).unwrap();
                    let c = apk_format::checksum::Checksum::Sha1(bytes.try_into().unwrap());
                    c.to_string()
                }
                _ => p.to_string(),
            })
            .collect();
        w.file(&name.join("."), 0o755, 0, &e.data).unwrap();
    }
    assert!(renamed > 3, "{renamed}");
    std::fs::write(db.join("scripts.tar"), w.finish().unwrap()).unwrap();
    let (ours, theirs) = (convert("ours"), convert("theirs"));
    assert!(ours == theirs, "installed.adb with scripts differs");
    let dump = reference(&[
        "--allow-untrusted",
        "adbdump",
        &dir.join("ours/installed.adb").display().to_string(),
    ]);
    assert!(dump.1.contains("scripts:"), "{}", dump.1);
}
