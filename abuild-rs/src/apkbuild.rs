//! Reading an `APKBUILD` (APKBUILD(5)): the file is sourced by the system's POSIX shell,
//! as abuild does, with the variables abuild predefines; the values the build needs are
//! then printed NUL-separated and checked here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use apk_format::dep::Dependency;

/// The variables read from an APKBUILD.
const VARIABLES: &[&str] = &[
    "pkgname",
    "pkgver",
    "pkgrel",
    "pkgdesc",
    "url",
    "arch",
    "license",
    "depends",
    "depends_dev",
    "depends_doc",
    "depends_openrc",
    "makedepends",
    "makedepends_build",
    "makedepends_host",
    "checkdepends",
    "install",
    "triggers",
    "subpackages",
    "source",
    "sha512sums",
    "provides",
    "replaces",
    "install_if",
    "provider_priority",
    "replaces_priority",
    "options",
    "builddir",
    "maintainer",
    "pkgusers",
    "pkggroups",
];

/// The build stages an APKBUILD may define as shell functions.
const FUNCTIONS: &[&str] = &["prepare", "build", "check", "package"];

/// One entry of `subpackages`: `name[:function[:arch]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subpackage {
    pub name: String,
    /// The split function (default: what follows the last `-` of the name).
    pub function: String,
    /// `noarch`/`all` override, else the package's architecture.
    pub arch: Option<String>,
}

/// One entry of `source`: `[filename::]location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The name in `srcdir` (and in `sha512sums`).
    pub filename: String,
    /// A URL (`http://`, `https://`, `file://`) or a path relative to the APKBUILD.
    pub location: String,
}

impl Source {
    pub fn is_remote(&self) -> bool {
        self.location.contains("://")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Apkbuild {
    pub startdir: PathBuf,
    /// The folder holding the package's folder: the repository it builds into.
    pub repo: String,
    pub vars: BTreeMap<String, String>,
    pub functions: Vec<String>,
}

/// What is wrong with an APKBUILD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shell every APKBUILD is sourced and every stage is run with, as a command:
/// `$ABUILD_SHELL` when set; else busybox's ash, the shell APKBUILDs are written for
/// (`${var//a/b}`, `local`, ...), when `/bin/sh` is not busybox but a `busybox` is on the
/// `PATH` (Debian's dash lacks those extensions); else bash, which has them; else
/// `/bin/sh`.
pub fn shell() -> Command {
    if let Ok(s) = std::env::var("ABUILD_SHELL") {
        return Command::new(s);
    }
    let sh_is_busybox = std::fs::canonicalize("/bin/sh")
        .is_ok_and(|p| p.file_name().is_some_and(|n| n == "busybox"));
    if sh_is_busybox {
        return Command::new("/bin/sh");
    }
    let on_path = |prog: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(prog).is_file()))
    };
    if on_path("busybox") {
        let mut c = Command::new("busybox");
        c.arg("ash");
        return c;
    }
    if on_path("bash") {
        return Command::new("bash");
    }
    Command::new("/bin/sh")
}

impl Apkbuild {
    /// Sources `dir/APKBUILD` for `carch` with the variables abuild predefines, and
    /// checks it.
    pub fn read(dir: &Path, carch: &str) -> Result<Apkbuild, Invalid> {
        let b = Self::read_unchecked(dir, carch)?;
        b.validate()?;
        Ok(b)
    }

    /// Sources `dir/APKBUILD` without checking what it says.
    pub fn read_unchecked(dir: &Path, carch: &str) -> Result<Apkbuild, Invalid> {
        let startdir = dir
            .canonicalize()
            .map_err(|e| Invalid(format!("{}: {e}", dir.display())))?;
        let file = startdir.join("APKBUILD");
        if !file.is_file() {
            return Err(Invalid(format!("{}: no APKBUILD", startdir.display())));
        }
        let mut script = String::from("set -e\n. ./APKBUILD\n");
        for v in VARIABLES {
            script.push_str(&format!("printf '\\001v:{v}=%s\\000' \"${{{v}-}}\"\n"));
        }
        for f in FUNCTIONS {
            script.push_str(&format!(
                "case \"$(command -V {f} 2>/dev/null)\" in *function*) printf '\\001f:{f}\\000';; esac\n"
            ));
        }
        let out = shell()
            .arg("-c")
            .arg(&script)
            .current_dir(&startdir)
            .env_clear()
            .envs(base_env(&startdir, carch))
            .output()
            .map_err(|e| Invalid(format!("{}: cannot run the shell: {e}", file.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Invalid(format!(
                "{}: cannot be sourced: {}",
                file.display(),
                err.trim()
            )));
        }
        let mut b = Apkbuild {
            repo: startdir
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            startdir,
            ..Default::default()
        };
        for item in out.stdout.split(|&c| c == 0).filter(|i| !i.is_empty()) {
            let item = String::from_utf8_lossy(item);
            // Our output follows a \x01 mark, after anything the APKBUILD printed.
            let Some((_, item)) = item.rsplit_once('\u{1}') else {
                continue;
            };
            if let Some(kv) = item.strip_prefix("v:") {
                if let Some((k, v)) = kv.split_once('=') {
                    b.vars.insert(k.to_owned(), v.to_owned());
                }
            } else if let Some(f) = item.strip_prefix("f:") {
                b.functions.push(f.to_owned());
            }
        }
        if b.var("maintainer").is_empty() {
            // Older APKBUILDs name the maintainer in a comment.
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some(m) = text
                .lines()
                .find_map(|l| l.strip_prefix("# Maintainer:"))
                .map(str::trim)
                .filter(|m| !m.is_empty())
            {
                b.vars.insert("maintainer".into(), m.to_owned());
            }
        }
        Ok(b)
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars.get(name).map_or("", String::as_str)
    }

    /// The whitespace-separated words of a variable.
    pub fn words(&self, name: &str) -> Vec<String> {
        self.var(name)
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect()
    }

    pub fn pkgname(&self) -> &str {
        self.var("pkgname")
    }

    /// `pkgver-rpkgrel`.
    pub fn full_version(&self) -> String {
        format!("{}-r{}", self.var("pkgver"), self.var("pkgrel"))
    }

    pub fn has_function(&self, f: &str) -> bool {
        self.functions.iter().any(|x| x == f)
    }

    pub fn options(&self) -> Vec<String> {
        self.words("options")
    }

    pub fn has_option(&self, o: &str) -> bool {
        self.options().iter().any(|x| x == o)
    }

    fn validate(&self) -> Result<(), Invalid> {
        let bad = |m: String| {
            Err(Invalid(format!(
                "{}/APKBUILD: {m}",
                self.startdir.display()
            )))
        };
        for required in [
            "pkgname", "pkgver", "pkgrel", "pkgdesc", "url", "arch", "license",
        ] {
            if self.var(required).trim().is_empty() {
                return bad(format!("missing {required}"));
            }
        }
        let name = self.pkgname();
        if name.contains(|c: char| c.is_whitespace() || c == '/' || c.is_ascii_uppercase()) {
            return bad(format!("invalid pkgname '{name}'"));
        }
        let ver = self.var("pkgver");
        if ver.contains('-') || !apk_format::version::is_valid(ver) {
            return bad(format!("invalid pkgver '{ver}'"));
        }
        let rel = self.var("pkgrel");
        if rel.parse::<u32>().is_err() {
            return bad(format!("invalid pkgrel '{rel}': must be a number"));
        }
        if self.var("pkgdesc").len() > 128 {
            return bad("pkgdesc is longer than 128 characters".into());
        }
        for field in [
            "depends",
            "makedepends",
            "checkdepends",
            "provides",
            "replaces",
            "install_if",
        ] {
            for w in self.words(field) {
                if Dependency::parse(&w).is_err() {
                    return bad(format!("invalid {field} entry '{w}'"));
                }
            }
        }
        let sources = self.sources();
        let sums = self.sha512sums();
        for s in &sources {
            if !sums.contains_key(&s.filename) {
                return bad(format!("no sha512sums entry for source '{}'", s.filename));
            }
        }
        if !self.has_function("package") {
            return bad("no package() function".into());
        }
        // As abuild: a missing check() is only a warning when the check stage runs,
        // unless REQUIRE_CHECK asks for one.
        let require = std::env::var_os("REQUIRE_CHECK").is_some_and(|v| !v.is_empty());
        if require && !self.has_function("check") && !self.has_option("!check") {
            return bad("no check() function and no !check in options (REQUIRE_CHECK)".into());
        }
        Ok(())
    }

    /// True when the package is built for `carch` (`all`, `noarch`, lists, `!arch`).
    pub fn builds_for(&self, carch: &str) -> bool {
        let words = self.words("arch");
        if words.iter().any(|w| w == &format!("!{carch}")) {
            return false;
        }
        words
            .iter()
            .any(|w| w == "all" || w == "noarch" || w == carch)
    }

    /// `noarch` packages go into every architecture's repository.
    pub fn is_noarch(&self) -> bool {
        self.words("arch").iter().any(|w| w == "noarch")
    }

    pub fn subpackages(&self) -> Vec<Subpackage> {
        self.words("subpackages")
            .into_iter()
            .map(|w| {
                let mut parts = w.splitn(3, ':');
                let name = parts.next().unwrap_or("").to_owned();
                // As abuild: the split function defaults to what follows the last `-`
                // (`bashcomp`, `zshcomp`, `fishcomp` for the completions), and the
                // documentation-like subpackages are noarch unless told otherwise.
                let function = parts
                    .next()
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        for (suffix, f) in [
                            ("-bash-completion", "bashcomp"),
                            ("-zsh-completion", "zshcomp"),
                            ("-fish-completion", "fishcomp"),
                        ] {
                            if name.ends_with(suffix) {
                                return f.to_owned();
                            }
                        }
                        name.rsplit_once('-')
                            .map_or(name.clone(), |(_, f)| f.to_owned())
                    });
                let noarch_kind = [
                    "-doc",
                    "-openrc",
                    "-lang",
                    "sh-completion",
                    "-pyc",
                    "-nftrules",
                    "-systemd",
                    "-udev",
                ]
                .iter()
                .any(|s| name.ends_with(s));
                let arch = parts
                    .next()
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .or_else(|| {
                        (noarch_kind && name != self.pkgname()).then(|| "noarch".to_owned())
                    });
                Subpackage {
                    name,
                    function,
                    arch,
                }
            })
            .collect()
    }

    pub fn sources(&self) -> Vec<Source> {
        self.words("source")
            .into_iter()
            .map(|w| match w.split_once("::") {
                Some((name, loc)) => Source {
                    filename: name.to_owned(),
                    location: loc.to_owned(),
                },
                None => Source {
                    filename: w.rsplit('/').next().unwrap_or(&w).to_owned(),
                    location: w,
                },
            })
            .collect()
    }

    /// `sha512sums`: file name → hex digest.
    pub fn sha512sums(&self) -> BTreeMap<String, String> {
        let words = self.words("sha512sums");
        words
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[1].clone(), c[0].to_lowercase()))
            .collect()
    }

    /// Names every package of this build provides (itself, subpackages, `provides`).
    pub fn provided_names(&self) -> Vec<String> {
        let mut out = vec![self.pkgname().to_owned()];
        out.extend(self.subpackages().into_iter().map(|s| s.name));
        for p in self.words("provides") {
            if let Ok(d) = Dependency::parse(&p) {
                out.push(d.name);
            }
        }
        out
    }

    /// The names this build needs from other builds: `depends`, `makedepends`,
    /// `checkdepends` (without versions).
    pub fn needed_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for field in [
            "depends",
            "makedepends",
            "makedepends_host",
            "makedepends_build",
            "checkdepends",
        ] {
            for w in self.words(field) {
                if let Ok(d) = Dependency::parse(&w) {
                    if !d.conflict {
                        out.push(d.name);
                    }
                }
            }
        }
        out
    }
}

/// The environment abuild gives an APKBUILD: its directories, the machine triplets,
/// a plain `PATH`.
pub fn base_env(startdir: &Path, carch: &str) -> Vec<(String, String)> {
    let chost = triplet(carch);
    let mut env = vec![
        ("startdir".to_owned(), startdir.display().to_string()),
        ("CARCH".into(), carch.into()),
        ("CHOST".into(), chost.clone()),
        ("CTARGET".into(), chost),
        (
            "CBUILD".into(),
            triplet(apk_core::db::installed::native_arch()),
        ),
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        ),
        (
            "HOME".into(),
            std::env::var("HOME").unwrap_or_else(|_| "/".into()),
        ),
        ("LANG".into(), "C".into()),
    ];
    if let Ok(e) = std::env::var("SOURCE_DATE_EPOCH") {
        env.push(("SOURCE_DATE_EPOCH".into(), e));
    }
    env
}

/// The GNU triplet Alpine uses for an architecture.
pub fn triplet(arch: &str) -> String {
    let cpu = match arch {
        "x86" => "i586",
        "armhf" => "armv6",
        "armv7" => "armv7",
        "ppc64le" => "powerpc64le",
        other => other,
    };
    let abi = match arch {
        "armhf" | "armv7" => "musleabihf",
        _ => "musl",
    };
    format!("{cpu}-alpine-linux-{abi}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("APKBUILD"), text).unwrap();
    }

    const GOOD: &str = r#"
pkgname=hello
pkgver=1.2
pkgrel=3
pkgdesc="Says hello on $CARCH"
url="https://example.org"
arch="all !s390x"
license="MIT"
depends="libx>=1"
makedepends="libdemo-dev"
subpackages="$pkgname-doc $pkgname-extra:extras:noarch"
source="hello.c other::https://example.org/o.tar.gz"
options="!check"
sha512sums="abc  hello.c
def  other"
package() { :; }
"#;

    #[test]
    fn reads_variables_and_functions() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("main/hello");
        write(&dir, GOOD);
        let b = Apkbuild::read(&dir, "aarch64").unwrap();
        assert_eq!(b.repo, "main");
        assert_eq!(b.var("pkgdesc"), "Says hello on aarch64");
        assert_eq!(b.full_version(), "1.2-r3");
        assert!(b.builds_for("x86_64") && !b.builds_for("s390x"));
        assert_eq!(b.functions, ["package"]);
        assert_eq!(
            b.subpackages(),
            [
                // -doc subpackages are noarch unless told otherwise, as abuild has it.
                Subpackage {
                    name: "hello-doc".into(),
                    function: "doc".into(),
                    arch: Some("noarch".into())
                },
                Subpackage {
                    name: "hello-extra".into(),
                    function: "extras".into(),
                    arch: Some("noarch".into())
                }
            ]
        );
        let src = b.sources();
        assert_eq!(src[0].filename, "hello.c");
        assert!(!src[0].is_remote());
        assert_eq!(src[1].filename, "other");
        assert!(src[1].is_remote());
        assert_eq!(b.sha512sums()["other"], "def");
        assert_eq!(b.needed_names(), ["libx", "libdemo-dev"]);
    }

    #[test]
    fn invalid_apkbuilds_say_why() {
        let tmp = tempfile::tempdir().unwrap();
        let cases = [
            (
                GOOD.replace("pkgver=1.2", "pkgver=1.2-beta"),
                "invalid pkgver '1.2-beta'",
            ),
            (GOOD.replace("pkgrel=3", "pkgrel=x"), "invalid pkgrel 'x'"),
            (GOOD.replace("license=\"MIT\"", ""), "missing license"),
            (
                GOOD.replace("package() { :; }", ""),
                "no package() function",
            ),
            (
                GOOD.replace("def  other", ""),
                "no sha512sums entry for source 'other'",
            ),
            (format!("{GOOD}\nif then fi\n"), "cannot be sourced"),
        ];
        for (i, (text, why)) in cases.iter().enumerate() {
            let dir = tmp.path().join(format!("r/p{i}"));
            write(&dir, text);
            let err = Apkbuild::read(&dir, "x86_64").unwrap_err();
            assert!(err.0.contains(why), "{why}: {err}");
        }
    }
}
