//! `apk mkpkg --info KEY:VALUE... [--files DIR] [--script TYPE:FILE] [--trigger PATH]
//! --output FILE`: a v3 package as apk-tools 3's `mkpkg` writes it (the tree built by
//! `apk_format::adb::build`, signed with the global `--sign-key`, the files' contents in
//! data blocks, deflate-compressed).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use apk_format::adb::build::{self, Acl, DirSpec, FileSpec, PackageSpec};
use apk_format::adb::{self, container, trust};
use sha2::{Digest, Sha256};

use crate::context::{self, Context};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Package metadata KEY:VALUE (name, version, description, arch, depends, ...)
    #[arg(short = 'I', long, value_name = "KEY:VALUE")]
    info: Vec<String>,
    /// The package's files, from DIR
    #[arg(short = 'F', long, value_name = "DIR")]
    files: Option<PathBuf>,
    /// A script, TYPE:FILE (post-install, pre-upgrade, trigger, ...)
    #[arg(short = 's', long, value_name = "TYPE:FILE")]
    script: Vec<String>,
    /// A folder whose changes run the trigger script
    #[arg(short = 't', long, value_name = "PATH")]
    trigger: Vec<String>,
    /// Write the package to FILE (default: NAME-VERSION.apk)
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Lay the package out for apk-tools VERSION (which folders are kept)
    #[arg(long, value_name = "VERSION")]
    compat: Option<String>,
    /// Keep the root folder node (as --compat=3.0.0_pre1)
    #[arg(long, overrides_with = "no_rootnode")]
    rootnode: bool,
    #[arg(long, hide = true)]
    no_rootnode: bool,
    /// Record extended attributes (the default)
    #[arg(long, overrides_with = "no_xattrs")]
    xattrs: bool,
    #[arg(long, hide = true)]
    no_xattrs: bool,
}

/// A file's or folder's extended attributes, as apk-tools reads them (none for a
/// symlink, which it does not open).
fn xattrs_of(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(names) = xattr::list(path) else {
        return Vec::new();
    };
    names
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok()??;
            Some((n.as_bytes().to_vec(), v))
        })
        .collect()
}

struct Walk {
    /// Record extended attributes.
    xattrs: bool,
    /// Keep an unremarkable root folder node, and other unremarkable folders.
    rootnode: bool,
    dirnode: bool,
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
    epoch: Option<u64>,
    installed_size: u64,
    links: std::collections::HashSet<(u64, u64)>,
}

impl Walk {
    fn acl(&self, path: &Path, m: &std::fs::Metadata, mode: u32) -> Acl {
        let xattrs = if self.xattrs && !m.file_type().is_symlink() {
            xattrs_of(path)
        } else {
            Vec::new()
        };
        Acl {
            xattrs,
            mode,
            user: self
                .users
                .get(&m.uid())
                .cloned()
                .unwrap_or_else(|| m.uid().to_string()),
            group: self
                .groups
                .get(&m.gid())
                .cloned()
                .unwrap_or_else(|| m.gid().to_string()),
        }
    }

    fn sorted(dir: &Path) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every folder under `root` (relative paths), sorted as apk-tools sorts them.
    fn folders(root: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        for n in Self::sorted(&root.join(rel))? {
            let r = if rel.is_empty() {
                n
            } else {
                format!("{rel}/{n}")
            };
            if std::fs::symlink_metadata(root.join(&r))?.is_dir() {
                out.push(r.clone());
                Self::folders(root, &r, out)?;
            }
        }
        Ok(())
    }

    fn dir(&mut self, root: &Path, rel: &str) -> std::io::Result<Option<DirSpec>> {
        let here = root.join(rel);
        let meta = std::fs::symlink_metadata(&here)?;
        let mut files = Vec::new();
        let entries = Self::sorted(&here)?;
        let dirents = entries.len();
        for n in entries {
            let path = here.join(&n);
            let m = std::fs::symlink_metadata(&path)?;
            let ft = m.file_type();
            let mtime = self.epoch.unwrap_or(m.mtime().max(0) as u64);
            let mut f = FileSpec {
                name: n.clone(),
                acl: self.acl(&path, &m, m.mode() & 0o7777),
                mtime,
                size: m.size(),
                sha256: None,
                target: None,
                link: None,
            };
            if ft.is_dir() {
                continue;
            } else if ft.is_file() {
                f.sha256 = Some(Sha256::digest(std::fs::read(&path)?).into());
                if m.nlink() > 1 {
                    let key = (m.dev(), m.ino());
                    f.link = Some((key, rel.to_owned()));
                    if !self.links.insert(key) {
                        // A later link: counted once, with the first.
                        files.push(f);
                        continue;
                    }
                }
                self.installed_size += m.size();
            } else if ft.is_symlink() {
                let link = std::fs::read_link(&path)?;
                let mut t = 0o120000u16.to_le_bytes().to_vec();
                t.extend_from_slice(link.as_os_str().as_encoded_bytes());
                f.target = Some(t);
            } else {
                use std::os::unix::fs::FileTypeExt;
                let kind = if ft.is_block_device() {
                    0o060000u16
                } else if ft.is_char_device() {
                    0o020000
                } else if ft.is_fifo() {
                    0o010000
                } else {
                    println!("{}: special file ignored", path.display());
                    continue;
                };
                let mut t = kind.to_le_bytes().to_vec();
                t.extend_from_slice(&m.rdev().to_le_bytes());
                f.target = Some(t);
            }
            files.push(f);
        }
        let acl = self.acl(&here, &meta, meta.mode() & !0o170000);
        // A plain root:root 0755 folder without files is left out where the layout
        // allows (as apk-tools prunes it).
        if acl.mode == 0o755 && files.is_empty() && acl.user == "root" && acl.group == "root" {
            if rel.is_empty() && !self.rootnode {
                return Ok(None);
            }
            if !rel.is_empty() && dirents > 0 && !self.dirnode {
                return Ok(None);
            }
        }
        Ok(Some(DirSpec {
            name: rel.to_owned(),
            acl,
            files,
        }))
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    match make(ctx, &args) {
        Ok(()) => 0,
        Err(e) => {
            context::error(format!("failed to create package: {e}"));
            99
        }
    }
}

fn make(ctx: &Context, args: &Args) -> Result<(), String> {
    let mut spec = PackageSpec::default();
    for i in &args.info {
        let (k, v) = i
            .split_once(':')
            .ok_or_else(|| format!("missing key or value: {i}"))?;
        if k == "replaces-priority" {
            spec.replaces_priority = Some(v.to_owned());
        } else {
            spec.info.push((k.to_owned(), v.to_owned()));
        }
    }
    for s in &args.script {
        let (k, f) = s
            .split_once(':')
            .ok_or_else(|| format!("missing script type: {s}"))?;
        if !adb::schema::SCRIPT_NAMES.contains(&k) {
            return Err(format!("invalid script type: {k}"));
        }
        let body = std::fs::read(f).map_err(|e| format!("failed to load script: {f}: {e}"))?;
        spec.scripts.push((k.to_owned(), body));
    }
    spec.triggers = args.trigger.clone();
    // The layout of the apk-tools version asked for (default: 3.0.0_pre1's).
    let compat = match (&args.compat, args.rootnode, args.no_rootnode) {
        (_, true, _) => "3.0.0_pre1".to_owned(),
        (_, _, true) => "3.0.0_pre3".to_owned(),
        (Some(c), _, _) => c.clone(),
        _ => "3.0.0_pre1".to_owned(),
    };
    let older = |v: &str| apk_format::version::compare(&compat, v) == std::cmp::Ordering::Less;
    // Owners are named as the root's own files name them (`--root`).
    let etc = |f: &str| ctx.root.join("etc").join(f).display().to_string();
    let mut walk = Walk {
        xattrs: !args.no_xattrs,
        rootnode: older("3.0.0_pre3"),
        dirnode: older("3.0.0_rc9"),
        users: super::id_names(Path::new(&etc("passwd"))),
        groups: super::id_names(Path::new(&etc("group"))),
        epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok()),
        installed_size: 0,
        links: Default::default(),
    };
    if let Some(root) = &args.files {
        let io = |e: std::io::Error| format!("file directory '{}': {e}", root.display());
        let mut folders = Vec::new();
        Walk::folders(root, "", &mut folders).map_err(io)?;
        folders.sort();
        spec.dirs.extend(walk.dir(root, "").map_err(io)?);
        for f in &folders {
            spec.dirs.extend(walk.dir(root, f).map_err(io)?);
        }
        walk.installed_size = walk.installed_size.max(1);
    }
    if !spec.scripts.is_empty() {
        walk.installed_size = walk.installed_size.max(1);
    }
    spec.installed_size = walk.installed_size;
    let (tree, data) = build::build(&spec).map_err(|e| e.reason())?;
    let mut sigs = Vec::new();
    for key in &ctx.opts.sign_key {
        let (k, _) = apk_format::sign::PrivateKey::load(key).map_err(|e| e.to_string())?;
        sigs.push(trust::sign(adb::SCHEMA_PACKAGE, &tree, &k).map_err(|e| e.to_string())?);
    }
    let mut file = container::write(adb::SCHEMA_PACKAGE, &tree, &sigs);
    if let Some(root) = &args.files {
        for (i, j, path) in &data {
            let mut payload = i.to_le_bytes().to_vec();
            payload.extend_from_slice(&j.to_le_bytes());
            let content = std::fs::read(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
            payload.extend_from_slice(&content);
            file.extend(container::block(2, &payload));
        }
    }
    let output = match &args.output {
        Some(o) => o.clone(),
        None => {
            let get = |k: &str| {
                spec.info
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            PathBuf::from(format!(
                "{}-{}.apk",
                get("name").unwrap_or_default(),
                get("version").unwrap_or_default()
            ))
        }
    };
    apk_core::fs::atomic::write_atomically(
        &output,
        &container::compress(&file, ctx.opts.compression.unwrap_or_default()),
    )
    .map_err(|e| e.to_string())
}
