//! Installing, upgrading and deleting for real, in temporary roots, from signed
//! repositories the tests build themselves. Expectations follow apk-tools' documented
//! behaviour: the tree a package describes, its database record, world, ownership and
//! protected-path rules.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use apk_format::sign::PrivateKey;
use apk_format::v2::package::DataNode;
use common::repo::*;
use common::*;

fn q1(data: &[u8]) -> String {
    apk_format::checksum::Checksum::sha1_of(data).to_string()
}

#[test]
fn install_writes_tree_database_and_world() {
    let f = fixture();
    let long_dir = format!("usr/share/{}", "d".repeat(60));
    let long_file = format!("{long_dir}/{}", "f".repeat(60));
    assert!(long_file.len() > 100);
    publish(
        &f.repo,
        vec![spec("tree", "1.0-r0")
            .dir("usr")
            .dir("usr/bin")
            .entry(
                "usr/bin/tool",
                0o755,
                DataNode::File(b"#!/bin/sh\necho tool\n".to_vec()),
            )
            .entry(
                "usr/bin/tool-link",
                0o755,
                DataNode::HardLink("usr/bin/tool".into()),
            )
            .entry("usr/bin/t", 0o777, DataNode::Symlink("tool".into()))
            .dir("usr/share")
            .file("usr/share/name with spaces.txt", "spaces\n")
            .file("usr/share/empty", "")
            .entry(
                "usr/share/secret",
                0o600,
                DataNode::File(b"s3cret".to_vec()),
            )
            .dir(&long_dir)
            .file(&long_file, "long\n")
            .entry("var/lib/tree", 0o700, DataNode::Dir)],
    );
    let out = f.ok(&["--initdb", "add", "tree"]);
    assert_eq!(
        out,
        "(1/1) Installing tree (1.0-r0)\nOK: 36 KiB in 1 packages\n"
    );

    // The tree.
    let mode = |p: &str| f.mode(p);
    assert_eq!(f.read("usr/bin/tool"), "#!/bin/sh\necho tool\n");
    assert_eq!(mode("usr/bin/tool"), 0o755);
    assert_eq!(mode("usr/share/secret"), 0o600);
    assert_eq!(mode("var/lib/tree"), 0o700);
    assert_eq!(f.read("usr/share/name with spaces.txt"), "spaces\n");
    assert_eq!(f.read("usr/share/empty"), "");
    assert_eq!(f.read(&long_file), "long\n");
    assert_eq!(
        std::fs::read_link(f.path("usr/bin/t")).unwrap(),
        PathBuf::from("tool")
    );
    let ino = |p: &str| std::fs::metadata(f.path(p)).unwrap().ino();
    assert_eq!(ino("usr/bin/tool"), ino("usr/bin/tool-link"));
    let mtime = std::fs::metadata(f.path("usr/bin/tool")).unwrap().mtime();
    assert_eq!(mtime, 1_700_000_000);
    // No temporary files are left behind.
    assert!(
        tree(&f.root).iter().all(|p| !p.contains(".apk.")),
        "{:?}",
        tree(&f.root)
    );

    // The database, in apk's layout.
    let db = f.installed();
    assert!(db.starts_with("C:Q1"), "{db}");
    for want in [
        "P:tree\nV:1.0-r0\nA:x86_64\n",
        "F:usr/bin\nR:tool\na:0:0:755\n",
        &format!("R:tool\na:0:0:755\nZ:{}\n", q1(b"#!/bin/sh\necho tool\n")),
        &format!("R:t\na:0:0:777\nZ:{}\n", q1(b"tool")),
        &format!("R:name with spaces.txt\nZ:{}\n", q1(b"spaces\n")),
        &format!("R:empty\nZ:{}\n", q1(b"")),
        "R:secret\na:0:0:600\n",
        "F:var/lib/tree\nM:0:0:700\n",
    ] {
        assert!(db.contains(want), "missing {want:?} in\n{db}");
    }
    let mut owned = f.owned_by("tree");
    owned.sort();
    assert!(owned.contains(&long_file));
    assert_eq!(owned.len(), 7, "{owned:?}");
    assert_eq!(f.read("etc/apk/world"), "tree\n");

    // What apk-rs wrote reads back as a database.
    let out = f.ok(&["info", "-L", "tree"]);
    assert!(out.contains("usr/share/name with spaces.txt"), "{out}");

    // Deleting removes the files and the directories nobody else uses.
    let out = f.ok(&["del", "tree"]);
    assert_eq!(out, "(1/1) Purging tree (1.0-r0)\nOK: 0 B in 0 packages\n");
    assert!(!f.path("usr").exists(), "{:?}", tree(&f.root));
    assert!(!f.path("var/lib/tree").exists());
    // An empty world is one newline, as apk-tools writes it.
    assert_eq!(f.read("etc/apk/world"), "\n");
    assert!(f.names().is_empty());
}

#[test]
fn file_clash_is_refused_and_replaces_moves_ownership() {
    let f = fixture();
    publish(
        &f.repo,
        vec![
            spec("alpha", "1.0-r0")
                .dir("usr")
                .file("usr/shared", "alpha\n"),
            spec("beta", "1.0-r0")
                .dir("usr")
                .file("usr/shared", "beta\n"),
            spec("gamma", "1.0-r0")
                .field("replaces", "alpha")
                .dir("usr")
                .file("usr/shared", "gamma\n"),
        ],
    );
    f.ok(&["--initdb", "add", "alpha"]);
    // As apk-tools 3 does (tests/differential.rs checks it against apk-tools): the
    // clashing file is skipped and stays alpha's, beta is installed without it and
    // marked broken (`f:f`), and the run counts one error.
    let (code, out) = f.apk(&["add", "beta"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ERROR: beta-1.0-r0: trying to overwrite usr/shared owned by alpha-1.0-r0.\n"),
        "{out}"
    );
    assert!(out.contains("1 error;"), "{out}");
    assert_eq!(f.read("usr/shared"), "alpha\n");
    assert_eq!(f.names(), ["alpha-1.0-r0", "beta-1.0-r0"]);
    assert!(f.installed().contains("P:beta\n"), "{}", f.installed());
    assert!(f.installed().contains("\nf:f\n"), "{}", f.installed());
    assert!(f.owned_by("beta").is_empty());
    assert!(tree(&f.root).iter().all(|p| !p.contains(".apk.")));
    assert_eq!(f.read("etc/apk/world"), "alpha\nbeta\n");
    f.ok(&["del", "beta"]);
    assert_eq!(f.read("usr/shared"), "alpha\n");
    // --force-overwrite takes the file, with a warning.
    let out = f.ok(&["--force-overwrite", "add", "beta"]);
    assert!(
        out.contains("WARNING: beta-1.0-r0: overwriting usr/shared owned by alpha-1.0-r0.\n"),
        "{out}"
    );
    assert_eq!(f.read("usr/shared"), "beta\n");
    assert_eq!(f.owned_by("beta"), ["usr/shared"]);
    f.ok(&["del", "beta"]);

    f.ok(&["add", "gamma"]);
    assert_eq!(f.read("usr/shared"), "gamma\n");
    // replaces is kept in the installed database (the index leaves it out).
    assert!(f.installed().contains("P:gamma\n"), "{}", f.installed());
    assert!(f.installed().contains("\nr:alpha\n"), "{}", f.installed());
    assert_eq!(f.owned_by("gamma"), ["usr/shared"]);
    assert!(f.owned_by("alpha").is_empty());
    // Removing the package that lost the file leaves it alone.
    f.ok(&["del", "alpha"]);
    assert_eq!(f.read("usr/shared"), "gamma\n");
    f.ok(&["del", "gamma"]);
    assert!(!f.path("usr/shared").exists());
}

#[test]
fn upgrade_moves_a_file_between_packages_and_drops_old_files() {
    let f = fixture();
    publish(
        &f.repo,
        vec![
            spec("app", "1.0-r0")
                .dir("usr")
                .file("usr/app", "app 1\n")
                .file("usr/helper", "helper 1\n")
                .file("usr/obsolete", "old\n"),
            spec("app-extra", "1.0-r0")
                .dir("usr")
                .file("usr/extra", "x\n"),
        ],
    );
    f.ok(&["--initdb", "add", "app", "app-extra"]);
    publish(
        &f.repo,
        vec![
            spec("app", "2.0-r0").dir("usr").file("usr/app", "app 2\n"),
            spec("app-extra", "2.0-r0")
                .field("replaces", "app")
                .dir("usr")
                .file("usr/extra", "x\n")
                .file("usr/helper", "helper 2\n"),
        ],
    );
    let out = f.ok(&["upgrade"]);
    assert!(out.contains("Upgrading app (1.0-r0 -> 2.0-r0)"), "{out}");
    assert!(
        out.contains("Upgrading app-extra (1.0-r0 -> 2.0-r0)"),
        "{out}"
    );
    assert_eq!(f.read("usr/app"), "app 2\n");
    assert_eq!(f.read("usr/helper"), "helper 2\n");
    assert!(!f.path("usr/obsolete").exists());
    let mut extra = f.owned_by("app-extra");
    extra.sort();
    assert_eq!(extra, ["usr/extra", "usr/helper"]);
    assert_eq!(f.owned_by("app"), ["usr/app"]);
    let mut names = f.names();
    names.sort();
    assert_eq!(names, ["app-2.0-r0", "app-extra-2.0-r0"]);
}

#[test]
fn modified_config_is_kept_and_the_new_one_written_beside_it() {
    let f = fixture();
    publish(
        &f.repo,
        vec![spec("conf", "1.0-r0")
            .dir("etc")
            .file("etc/conf.conf", "setting=1\n")
            .file("etc/other.conf", "other=1\n")],
    );
    f.ok(&["--initdb", "add", "conf"]);
    std::fs::write(f.path("etc/conf.conf"), "setting=mine\n").unwrap();
    publish(
        &f.repo,
        vec![spec("conf", "2.0-r0")
            .dir("etc")
            .file("etc/conf.conf", "setting=2\n")
            .file("etc/other.conf", "other=2\n")],
    );
    f.ok(&["upgrade"]);
    assert_eq!(f.read("etc/conf.conf"), "setting=mine\n");
    assert_eq!(f.read("etc/conf.conf.apk-new"), "setting=2\n");
    // The unchanged one is simply replaced.
    assert_eq!(f.read("etc/other.conf"), "other=2\n");
    assert!(!f.path("etc/other.conf.apk-new").exists());
    // Deleting keeps the user's file and removes the untouched one.
    f.ok(&["del", "conf"]);
    assert_eq!(f.read("etc/conf.conf"), "setting=mine\n");
    assert!(!f.path("etc/other.conf").exists());
}

#[test]
fn virtual_packages_and_install_if() {
    let f = fixture();
    publish(
        &f.repo,
        vec![
            spec("lib", "1.0-r0").dir("usr").file("usr/lib.so", "lib\n"),
            spec("tool", "1.0-r0").dir("usr").file("usr/tool", "tool\n"),
            spec("lib-doc", "1.0-r0")
                .field("install_if", "lib docs")
                .dir("usr")
                .file("usr/lib.txt", "doc\n"),
            spec("docs", "1.0-r0"),
        ],
    );
    f.ok(&[
        "--initdb",
        "add",
        "-t",
        ".build-deps=20240101",
        "lib",
        "tool",
    ]);
    let db = f.installed();
    assert!(db.contains("P:.build-deps\nV:20240101\nA:noarch\n"), "{db}");
    assert!(db.contains("D:lib tool\n"), "{db}");
    assert_eq!(f.read("etc/apk/world"), ".build-deps=20240101\n");
    assert!(f.path("usr/tool").exists());

    let out = f.ok(&["add", "docs"]);
    assert!(out.contains("Installing lib-doc (1.0-r0)"), "{out}");
    assert_eq!(f.read("usr/lib.txt"), "doc\n");

    let out = f.ok(&["del", ".build-deps"]);
    assert!(out.contains("Purging .build-deps (20240101)"), "{out}");
    assert!(out.contains("Purging lib-doc (1.0-r0)"), "{out}");
    assert!(!f.path("usr/tool").exists());
    assert!(!f.path("usr/lib.so").exists());
    let mut names = f.names();
    names.sort();
    assert_eq!(names, ["docs-1.0-r0"]);
}

#[test]
fn tampered_package_is_refused_and_nothing_lands() {
    let f = fixture();
    publish(
        &f.repo,
        vec![spec("good", "1.0-r0")
            .dir("usr")
            .file("usr/good", "payload\n")],
    );
    let pkg = f.repo.join("x86_64/good-1.0-r0.apk");
    let mut bytes = std::fs::read(&pkg).unwrap();
    // Flip a byte near the end: inside the compressed data stream.
    let at = bytes.len() - 20;
    bytes[at] ^= 0x55;
    std::fs::write(&pkg, bytes).unwrap();
    let (code, out) = f.apk(&["--initdb", "add", "good"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("ERROR: good-1.0-r0: "), "{out}");
    assert!(!f.path("usr/good").exists());
    assert!(tree(&f.root).iter().all(|p| !p.contains(".apk.")));
    assert!(f.names().is_empty());

    // A package signed by a key the root does not trust installs from the trusted
    // index, which gives its identity (as apk-tools checks it); given on the command
    // line, where only its signature can vouch for it, it is refused.
    publish(
        &f.repo,
        vec![spec("good", "1.0-r0")
            .dir("usr")
            .file("usr/good", "payload\n")],
    );
    let other = PrivateKey::generate_ed25519();
    let bytes = std::fs::read(&pkg).unwrap();
    let resigned = apk_format::v2::signed::resign(&bytes, &other, "other.pub", "pkg").unwrap();
    std::fs::write(&pkg, resigned).unwrap();
    let (code, out) = f.apk(&["add", s(&pkg)]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("UNTRUSTED signature"), "{out}");
    assert!(!f.path("usr/good").exists());
    let (code, out) = f.apk(&["add", "good"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.read("usr/good"), "payload\n");
}

#[test]
fn a_big_package_streamed_from_its_file_is_refused_when_its_end_is_wrong() {
    // Over half a megabyte installed: read from its file as it installs, its first
    // file written out before the end of the stream shows the damage.
    let f = fixture();
    let mut state = 0x2545_f491_u32;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 24) as u8
            })
            .collect()
    };
    let (first, second) = (noise(700_000), noise(1000));
    let big = || {
        spec("big", "1.0-r0")
            .dir("usr")
            .entry("usr/first", 0o644, DataNode::File(first.clone()))
            .entry("usr/second", 0o644, DataNode::File(second.clone()))
    };
    publish(&f.repo, vec![big()]);
    let pkg = f.repo.join("x86_64/big-1.0-r0.apk");
    let good = std::fs::read(&pkg).unwrap();
    let mut bytes = good.clone();
    // Inside the second file's compressed bytes, well past the first file.
    let at = bytes.len() - 300;
    bytes[at] ^= 0x55;
    std::fs::write(&pkg, &bytes).unwrap();
    let (code, out) = f.apk(&["--initdb", "add", "big"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("ERROR: big-1.0-r0: "), "{out}");
    assert!(!f.path("usr/first").exists());
    assert!(!f.path("usr/second").exists());
    assert!(
        tree(&f.root).iter().all(|p| !p.contains(".apk.")),
        "{:?}",
        tree(&f.root)
    );
    assert!(f.names().is_empty());

    // The same file intact installs, contents as packaged.
    std::fs::write(&pkg, &good).unwrap();
    let (code, out) = f.apk(&["add", "big"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(f.path("usr/first")).unwrap(), first);
    assert_eq!(std::fs::read(f.path("usr/second")).unwrap(), second);
}

#[test]
fn symlinks_in_the_root_cannot_lead_outside_it() {
    let f = fixture();
    let outside = f._tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    publish(
        &f.repo,
        vec![
            // A size, as abuild's `du` gives any package: apk-tools (and apk-rs) read
            // no file of a package installing nothing.
            spec("linker", "1.0-r0").field("size", "4096").entry(
                "escape",
                0o777,
                DataNode::Symlink(outside.display().to_string()),
            ),
            spec("writer", "1.0-r0")
                .field("depend", "linker")
                .file("escape/planted", "gotcha\n"),
        ],
    );
    f.ok(&["--initdb", "add", "writer"]);
    assert!(!outside.join("planted").exists());
    // Resolved as a chroot would: the absolute target is taken inside the root.
    let inside = f
        .root
        .join(outside.strip_prefix("/").unwrap())
        .join("planted");
    assert_eq!(std::fs::read_to_string(inside).unwrap(), "gotcha\n");
}

#[test]
fn a_second_writer_waits_for_the_lock_or_fails() {
    let f = fixture();
    publish(&f.repo, vec![spec("one", "1.0-r0").file("one", "1\n")]);
    f.ok(&["--initdb", "add", "one"]);
    let lock =
        apk_core::db::lock::Lock::acquire(&f.root, std::time::Duration::ZERO, &mut || {}).unwrap();
    let (code, out) = f.apk(&["del", "one"]);
    assert_eq!(code, 99, "{out}");
    assert!(
        out.contains("ERROR: Unable to lock database: Resource temporarily unavailable"),
        "{out}"
    );
    assert_eq!(f.names(), ["one-1.0-r0"]);
    // Simulating needs no lock.
    f.ok(&["--simulate", "del", "one"]);

    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(lock);
    });
    let out = f.ok(&["--wait", "20", "del", "one"]);
    release.join().unwrap();
    assert!(out.contains("Waiting for repository lock"), "{out}");
    assert!(f.names().is_empty());
}

#[test]
fn adding_to_a_root_without_a_database_needs_initdb() {
    let f = fixture();
    publish(&f.repo, vec![spec("one", "1.0-r0").file("one", "1\n")]);
    let (code, out) = f.apk(&["add", "one"]);
    assert_eq!(code, 99, "{out}");
    assert!(
        out.contains("ERROR: Unable to lock database: No such file or directory"),
        "{out}"
    );
    assert!(!f.path("one").exists());
}

/// Copies the host's `dash` (and the libraries it loads) into `root` as `/bin/sh`, so
/// scripts can run there.
/// Copies host programs (source, destination in the root) with the libraries `ldd`
/// names into the root.
fn install_host_programs(root: &Path, programs: &[(&str, &str)]) -> bool {
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (program, dest) in programs {
        let Ok(out) = std::process::Command::new("ldd").arg(program).output() else {
            return false;
        };
        files.push((PathBuf::from(program), root.join(dest)));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(p) = path.filter(|p| p.starts_with('/')) {
                files.push((PathBuf::from(p), root.join(&p[1..])));
            }
        }
    }
    for (file, dest) in &files {
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if std::fs::copy(file, dest).is_err() {
            return false;
        }
    }
    true
}

/// An initialised root holding host `programs` (source, destination), for tests of
/// scripts; `None` (with a notice) when not running as root, which chroot needs.
fn fixture_with_programs(programs: &[(&str, &str)]) -> Option<Fixture> {
    if !apk_core::fs::is_root() {
        eprintln!("NOTICE: scripts run through chroot, which needs root; skipped");
        return None;
    }
    let f = fixture();
    f.ok(&["--initdb", "add"]);
    assert!(
        install_host_programs(&f.root, programs),
        "could not copy {programs:?} into the root"
    );
    Some(f)
}

#[test]
fn scripts_and_triggers_run_inside_the_root() {
    let Some(f) = fixture_with_programs(&[("/bin/dash", "bin/sh")]) else {
        return;
    };
    let log_to = |what: &str| format!("#!/bin/sh\necho \"{what} $*\" >> /log\n");
    publish(
        &f.repo,
        vec![
            spec("hooks", "1.0-r0")
                .script(".pre-install", &log_to("pre-install"))
                .script(".post-install", &log_to("post-install"))
                .file("hooks", "1\n"),
            spec("trig", "1.0-r0")
                .field("triggers", "/usr/share/trig/*")
                .script(".trigger", &log_to("trigger"))
                .dir("usr")
                .dir("usr/share")
                .dir("usr/share/trig"),
            spec("content", "1.0-r0")
                .dir("usr")
                .dir("usr/share")
                .dir("usr/share/trig")
                .dir("usr/share/trig/fonts")
                .file("usr/share/trig/fonts/a", "a\n"),
            spec("bad", "1.0-r0")
                .script(".post-install", "#!/bin/sh\nexit 3\n")
                .file("bad", "bad\n"),
        ],
    );
    let (code, out) = f.apk_with_scripts(&["add", "hooks", "trig"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "  Executing hooks-1.0-r0.pre-install\n  Executing hooks-1.0-r0.post-install\n"
        ),
        "{out}"
    );
    assert_eq!(f.read("log"), "pre-install 1.0-r0\npost-install 1.0-r0\n");
    // apk-tools 3 starts a scripts.tar.gz in a new root, its entries keyed by the hex
    // identity (GNU tar reads it).
    let scripts = std::process::Command::new("tar")
        .arg("tzf")
        .arg(f.path("lib/apk/db/scripts.tar.gz"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&scripts.stdout);
    assert!(listing.contains("hooks-1.0-r0.X1"), "{listing}");
    assert!(!f.path("lib/apk/db/scripts.tar").exists());
    assert!(listing.contains(".post-install\n"), "{listing}");
    assert!(
        f.read("lib/apk/db/triggers")
            .ends_with(" /usr/share/trig/*\n"),
        "{}",
        f.read("lib/apk/db/triggers")
    );

    std::fs::write(f.path("log"), "").unwrap();
    let (code, out) = f.apk_with_scripts(&["add", "content"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Executing trig-1.0-r0.trigger\n"), "{out}");
    assert_eq!(f.read("log"), "trigger /usr/share/trig/fonts\n");

    let (code, out) = f.apk_with_scripts(&["add", "bad"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ERROR: lib/apk/exec/bad-1.0-r0.post-install: exited with error 3"),
        "{out}"
    );
    assert!(out.contains("1 error; "), "{out}");
    assert!(f.names().contains(&"bad-1.0-r0".to_string()));

    // --no-scripts runs nothing. `bad` stays broken, and every later commit counts it
    // as an error until it is fixed, as apk-tools counts it.
    std::fs::write(f.path("log"), "").unwrap();
    let (code, out) = f.apk(&["del", "hooks"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("1 error; "), "{out}");
    f.ok(&["del", "bad"]);
    f.ok(&["add", "hooks"]);
    assert_eq!(f.read("log"), "");
}

/// apk-rs resolves each folder of the root once per commit, and forgets what it knows
/// when a script ran: a folder a pre-install script moved behind a symlink is written
/// through the symlink, as apk-tools (which opens each path afresh) writes it; behind
/// an absolute symlink, inside the root (where apk-tools would leave it).
#[test]
fn a_folder_a_script_moved_behind_a_symlink_is_written_through_it() {
    let programs = [
        ("/bin/dash", "bin/sh"),
        ("/bin/mv", "bin/mv"),
        ("/bin/ln", "bin/ln"),
    ];
    let Some(f) = fixture_with_programs(&programs) else {
        return;
    };
    publish(
        &f.repo,
        vec![
            spec("first", "1.0-r0")
                .dir("opt")
                .dir("opt/data")
                .file("opt/data/a", "a\n"),
            spec("mover", "1.0-r0")
                .field("depend", "first")
                .script(
                    ".pre-install",
                    "#!/bin/sh\nmv /opt/data /opt/real && ln -s real /opt/data\n",
                )
                .dir("opt")
                .dir("opt/data")
                .dir("opt/data/sub")
                .file("opt/data/b", "b\n")
                .file("opt/data/sub/c", "c\n"),
        ],
    );
    // The reference, on a copy of the same root, when there is one.
    let twin = f.twin();
    let (code, out) = f.apk_with_scripts(&["add", "mover"]);
    assert_eq!(code, 0, "{out}");
    let layout = |root: &Path| {
        let link = std::fs::read_link(root.join("opt/data")).ok();
        let read = |p: &str| std::fs::read_to_string(root.join(p)).ok();
        (
            link,
            read("opt/real/a"),
            read("opt/real/b"),
            read("opt/real/sub/c"),
        )
    };
    let ours = layout(&f.root);
    assert_eq!(
        ours,
        (
            Some(PathBuf::from("real")),
            Some("a\n".into()),
            Some("b\n".into()),
            Some("c\n".into())
        )
    );
    match apk_core::testing::reference_apk() {
        Some(reference) => {
            let out = std::process::Command::new(&reference)
                .arg("--root")
                .arg(&twin)
                .args(["add", "mover"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            assert_eq!(layout(&twin), ours);
        }
        None => eprintln!("NOTICE: no reference apk-tools; compared with the expected layout only"),
    }

    // An absolute symlink is taken inside the root, as for every path apk-rs writes
    // (apk-tools would follow it out of the root: not run here).
    let outside = format!("/tmp/apk-rs-test-{}", std::process::id());
    publish(
        &f.repo,
        vec![
            spec("second", "1.0-r0").dir("srv").dir("srv/more"),
            spec("mover2", "1.0-r0")
                .field("depend", "second")
                .script(
                    ".pre-install",
                    &format!("#!/bin/sh\nmv /srv/more /srv/real && ln -s {outside} /srv/more\n"),
                )
                .file("srv/more/d", "d\n"),
        ],
    );
    let (code, out) = f.apk_with_scripts(&["add", "mover2"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !Path::new(&outside).exists(),
        "{outside} written outside the root"
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join(&outside[1..]).join("d")).ok(),
        Some("d\n".into())
    );
}

/// A package whose signed datahash covers its data stream installs with the file
/// digests its entries carry, checked or not against the contents: apk-tools installs
/// such a package and records them so (apk-rs hashes no file it installs from such a
/// stream). Both tools must agree on the installed database's `Z:` lines.
#[test]
fn file_digests_a_datahash_covers_are_recorded_as_carried() {
    use apk_format::checksum::Checksum;
    use apk_format::v2::package::{DataEntry, PackageBuilder};
    let sha1 = |d: &[u8]| match Checksum::sha1_of(d) {
        Checksum::Sha1(b) => b,
        Checksum::Sha256(_) => unreachable!("SHA-1 asked for"),
    };
    let mut b = PackageBuilder {
        mtime: 1_700_000_000,
        ..Default::default()
    };
    for (k, v) in [("pkgname", "odd"), ("pkgver", "1.0-r0"), ("arch", "noarch")] {
        b.pkginfo.push(k, v);
    }
    let contents = b"what is really there\n".to_vec();
    b.entries.push(DataEntry {
        path: "file".into(),
        mode: 0o644,
        uid: 0,
        gid: 0,
        uname: None,
        gname: None,
        node: DataNode::File(contents.clone()),
    });
    let mut tar = b.data_tar().unwrap();
    let hex = |d: &[u8]| apk_format::checksum::encode_hex(d);
    let right = hex(&sha1(&contents));
    let carried = sha1(b"what the entry says");
    let at = tar.windows(40).position(|w| w == right.as_bytes()).unwrap();
    tar[at..at + 40].copy_from_slice(hex(&carried).as_bytes());
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("odd-1.0-r0.apk");
    std::fs::write(&pkg, b.build_with_data_tar(&tar, None).unwrap()).unwrap();

    let z_lines = |root: &Path| -> Vec<String> {
        std::fs::read_to_string(root.join("lib/apk/db/installed"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("R:") || l.starts_with("Z:"))
            .map(str::to_owned)
            .collect()
    };
    let add = |bin: &Path, root: &Path| {
        std::fs::create_dir_all(root).unwrap();
        let out = std::process::Command::new(bin)
            .arg("--root")
            .arg(root)
            .args(["--initdb", "--no-scripts", "--allow-untrusted", "add"])
            .arg(&pkg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", bin.display());
    };
    let ours = tmp.path().join("ours");
    add(Path::new(env!("CARGO_BIN_EXE_apk")), &ours);
    assert_eq!(std::fs::read(ours.join("file")).unwrap(), contents);
    let recorded = Checksum::Sha1(carried).to_string();
    assert_eq!(
        z_lines(&ours),
        vec!["R:file".to_owned(), format!("Z:{recorded}")]
    );
    match apk_core::testing::reference_apks() {
        Some(references) => {
            for reference in references {
                let theirs = tmp.path().join(reference.file_name().unwrap());
                add(&reference, &theirs);
                assert_eq!(z_lines(&theirs), z_lines(&ours), "{}", reference.display());
            }
        }
        None => eprintln!("NOTICE: no reference apk-tools; compared with the expected record only"),
    }
}

#[test]
fn hostile_packages_are_refused_and_nothing_leaves_the_root() {
    let f = fixture();
    f.ok(&["--initdb", "add"]);
    let outside = f._tmp.path().join("outside");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            raw_tar_entry("../../outside/evil", b'0', 0o644, "", b"x"),
            "'../../outside/evil'",
        ),
        (
            "absolute",
            raw_tar_entry(format!("{}/evil", outside.display()), b'0', 0o644, "", b"x"),
            "absolute path",
        ),
        (
            "through-link",
            [
                raw_tar_entry("link", b'2', 0o777, "/", b""),
                raw_tar_entry("link/etc/evil", b'0', 0o644, "", b"x"),
            ]
            .concat(),
            "lies under a symlink of the package",
        ),
        (
            "hardlink-out",
            raw_tar_entry("hl", b'1', 0o644, "../../outside/target", b""),
            "hard link 'hl'",
        ),
        (
            "device",
            raw_tar_entry("dev-node", b'3', 0o644, "", b""),
            "device node 'dev-node' refused",
        ),
    ];
    let dir = f.repo.join("x86_64");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, data, _) in &cases {
        let pkg = package_with_data(&format!("evil-{name}"), data.clone());
        std::fs::write(dir.join(format!("evil-{name}-1.0-r0.apk")), pkg).unwrap();
    }
    reindex(&f.repo);
    for (name, _, why) in &cases {
        let (code, out) = f.apk(&["--allow-untrusted", "add", &format!("evil-{name}")]);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(
            out.contains(&format!("ERROR: evil-{name}-1.0-r0: ")),
            "{out}"
        );
        assert!(out.contains(why), "{name}: {out}");
        f.ok(&["del", &format!("evil-{name}")]);
    }
    assert!(!outside.exists());
    assert!(f.names().is_empty());
    let stray: Vec<String> = tree(&f.root)
        .into_iter()
        .filter(|p| !p.starts_with("etc") && !p.starts_with("lib") && !p.starts_with("var"))
        .filter(|p| !["tmp", "dev"].contains(&p.as_str()))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// A file of one package where another, in the same commit, made a folder fails that
/// package, and the folder stays, as apk-tools has it (apk-rs knows the folder it made
/// and looks at the path before writing there).
#[test]
fn a_file_where_a_folder_was_made_in_the_same_commit_fails_its_package() {
    let f = fixture();
    publish(
        &f.repo,
        vec![
            spec("maker", "1.0-r0").dir("d").dir("d/x"),
            spec("clash", "1.0-r0")
                .field("depend", "maker")
                .dir("d")
                .file("d/x", "file\n"),
        ],
    );
    let twin = f.twin();
    let (code, out) = f.apk(&["--initdb", "add", "clash"]);
    assert_ne!(code, 0, "{out}");
    let error = "ERROR: clash-1.0-r0: failed to commit d/x: Is a directory";
    assert!(out.lines().any(|l| l == error), "{out}");
    assert!(f.path("d/x").is_dir(), "{out}");
    if let Some(reference) = apk_core::testing::reference_apk() {
        let out = std::process::Command::new(&reference)
            .arg("--root")
            .arg(&twin)
            .args(["--no-scripts", "--initdb", "add", "clash"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.lines().any(|l| l == error), "{text}");
        assert!(twin.join("d/x").is_dir());
    }
}

/// Files and folders get the package's modes whatever the umask apk runs under (apk-rs
/// creates them with the mode and sets it again only where the umask took bits away),
/// as apk-tools, which runs with umask 0, gives them.
#[test]
fn modes_are_the_packages_under_any_umask() {
    let modes = [0o644, 0o664, 0o600, 0o777, 0o444];
    for umask in ["022", "077", "0"] {
        let f = fixture();
        let mut package = spec("modes", "1.0-r0")
            .entry("shared", 0o775, DataNode::Dir)
            .entry("shared/private", 0o700, DataNode::Dir)
            .entry("sticky", 0o1777, DataNode::Dir);
        for mode in modes {
            package = package.entry(
                &format!("shared/f{mode:o}"),
                mode,
                DataNode::File(b"x\n".to_vec()),
            );
        }
        publish(&f.repo, vec![package]);
        f.ok(&["--initdb", "add"]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(apk().get_program())
            .arg("--root")
            .arg(&f.root)
            .args(["--no-scripts", "add", "modes"])
            .output()
            .unwrap();
        assert!(out.status.success(), "umask {umask}: {out:?}");
        let mode = |p: &str| f.mode(p);
        assert_eq!(mode("shared"), 0o775, "umask {umask}");
        assert_eq!(mode("shared/private"), 0o700, "umask {umask}");
        assert_eq!(mode("sticky"), 0o1777, "umask {umask}");
        for m in modes {
            assert_eq!(mode(&format!("shared/f{m:o}")), m, "umask {umask}");
        }
    }
}

#[test]
fn setuid_bits_only_with_their_owner() {
    let f = fixture();
    publish(
        &f.repo,
        vec![spec("suid", "1.0-r0").dir("usr").entry(
            "usr/suid",
            0o4755,
            DataNode::File(b"#!/bin/sh\n".to_vec()),
        )],
    );
    // (As apk-tools, --no-chown is --usermode, which may not create a database as root.)
    f.ok(&["--initdb", "add"]);
    f.ok(&["--no-chown", "add", "suid"]);
    let mode = || {
        std::fs::metadata(f.path("usr/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(), 0o755, "setuid dropped when owners are not restored");
    if apk_core::fs::is_root() {
        f.ok(&["fix", "suid"]);
        assert_eq!(mode(), 0o4755, "kept when installed as root with its owner");
    }
}

#[test]
fn quiet_is_silent_and_the_bar_is_drawn_as_apk_tools_draws_it() {
    let f = fixture();
    publish(&f.repo, vec![spec("one", "1.0-r0").file("one", "1\n")]);
    let (code, out, err) = run(&["--root", s(&f.root), "-q", "--initdb", "add", "one"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    // Not on a terminal, no bar unless asked for.
    let (code, out, err) = run(&["--root", s(&f.root), "fix", "one"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(!out.contains('\x1b'), "{out:?}");
    // Asked for, on standard output: each frame saves the cursor, draws `NNN% ` and 44
    // cells (a 50-column line when the width is unknown), and is wiped (cursor
    // restored, line cleared) before the next thing printed.
    let out = apk()
        .args(["--root", s(&f.root), "--progress", "del", "one"])
        .env("APK_PROGRESS_CHAR", "#")
        .output()
        .unwrap();
    assert!(out.status.success());
    let frame = |percent: &str, cells: usize| {
        format!(
            "\x1b7{percent}% {}{}\x1b8\x1b[0K",
            "#".repeat(cells),
            " ".repeat(44 - cells)
        )
    };
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "(1/1) Purging one (1.0-r0)\n{}{}OK: 0 B in 0 packages\n",
            frame("  0", 0),
            frame("100", 44)
        )
    );
}

/// A raw tar file entry owned by `uid`/`gid` with owner names `uname`/`gname`.
fn owned_entry(path: &str, uid: u32, gid: u32, uname: &str, gname: &str) -> Vec<u8> {
    let mut e = raw_tar_entry(path, b'0', 0o640, "", b"owned\n");
    e[108..116].copy_from_slice(format!("{uid:07o}\0").as_bytes());
    e[116..124].copy_from_slice(format!("{gid:07o}\0").as_bytes());
    e[265..265 + uname.len()].copy_from_slice(uname.as_bytes());
    e[297..297 + gname.len()].copy_from_slice(gname.as_bytes());
    set_tar_size(&mut e, 6);
    e
}

#[test]
fn owners_are_mapped_through_the_roots_passwd_and_group() {
    if !apk_core::fs::is_root() {
        eprintln!("NOTICE: restoring owners needs root; skipped");
        return;
    }
    let f = fixture();
    f.ok(&["--initdb", "add"]);
    std::fs::write(
        f.path("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\ndemo:x:2000:2000::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(f.path("etc/group"), "root:x:0:\ndemo:x:3000:\n").unwrap();
    let data = [
        owned_entry("known", 1234, 1234, "demo", "demo"),
        owned_entry("unknown", 1500, 1600, "ghost", "ghosts"),
    ]
    .concat();
    let dir = f.repo.join("x86_64");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("owned-1.0-r0.apk"),
        package_with_data("owned", data),
    )
    .unwrap();
    reindex(&f.repo);
    f.ok(&["--allow-untrusted", "add", "owned"]);
    let ids = |p: &str| {
        let m = std::fs::metadata(f.path(p)).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    assert_eq!(ids("known"), (2000, 3000, 0o640));
    assert_eq!(ids("unknown"), (1500, 1600, 0o640));
    let db = f.installed();
    assert!(db.contains("R:known\na:2000:3000:640\n"), "{db}");
    assert!(db.contains("R:unknown\na:1500:1600:640\n"), "{db}");
}

#[test]
fn reinstalling_a_package_no_repository_has_is_skipped() {
    let f = fixture();
    publish(&f.repo, vec![spec("lone", "1.0-r0").file("lone", "1\n")]);
    f.ok(&["--initdb", "add", "lone"]);
    std::fs::write(f.path("etc/apk/repositories"), "").unwrap();
    let out = f.ok(&["fix", "lone"]);
    assert_eq!(
        out,
        "(1/1) [APK unavailable, skipped] Reinstalling lone (1.0-r0)\nOK: 4096 B in 1 packages\n"
    );
    assert_eq!(f.read("lone"), "1\n");
    assert_eq!(f.names(), ["lone-1.0-r0"]);
}

/// A package file whose identity differs from its index record is refused, also when
/// the snapshot's record of that identity is damaged (it is then read from the index).
#[test]
fn identity_is_checked_even_when_the_snapshot_record_is_damaged() {
    let f = fixture();
    std::fs::create_dir_all(f.path("etc/apk/cache")).unwrap();
    std::fs::create_dir_all(f.path("lib/apk/db")).unwrap();
    std::fs::write(f.path("lib/apk/db/installed"), "").unwrap();
    std::fs::write(f.path("etc/apk/world"), "").unwrap();
    publish(
        &f.repo,
        vec![spec("swap", "1.0-r0").file("etc/swap", "one\n")],
    );
    let index = f.repo.join("x86_64/APKINDEX.tar.gz");
    let indexed = std::fs::read(&index).unwrap();
    // The same name and version rebuilt (and signed) with other contents: the index
    // written first is put back, so it describes the first build.
    publish(
        &f.repo,
        vec![spec("swap", "1.0-r0").file("etc/swap", "two\n")],
    );
    std::fs::write(&index, indexed).unwrap();
    let (code, out) = f.apk(&["--simulate", "add", "swap"]);
    assert_eq!(code, 0, "{out}");
    let snap = f.path("etc/apk/cache/apk-rs.snapshot");
    let mut b = std::fs::read(&snap).unwrap();
    let core_len = u64::from_le_bytes(b[44..52].try_into().unwrap()) as usize;
    // The first package record (the identity's bytes) of the metadata section.
    b[64 + core_len + 3] ^= 0x5a;
    std::fs::write(&snap, &b).unwrap();
    let (code, out) = f.apk(&["add", "swap"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("v2 package integrity error"), "{out}");
    assert!(!f.path("etc/swap").exists(), "{out}");
}
