//! Building a v3 package's tree as apk-tools' `mkpkg` builds it, from a description of
//! its metadata and files (the binary walks the file system): values written in
//! mkpkg's order so that the same inputs give the same bytes.

use sha2::{Digest, Sha256};

use super::schema::{self, acl, di, fi, pi, pkg, Kind, Scalar, PKGINFO};
use super::value::{Val, TYPE_OBJECT};
use super::writer::{compare_obj, Writer};
use crate::dep;
use crate::error::{Error, Result};

/// Owner, mode and extended attributes of a file or folder.
#[derive(Debug, Clone)]
pub struct Acl {
    pub mode: u32,
    pub user: String,
    pub group: String,
    /// Extended attributes (name, value) in the order the file system lists them.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One entry of a folder: a regular file (content digest and size) or one with a
/// `target` (symlink: mode then link text; hard link; device).
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub name: String,
    pub acl: Acl,
    pub mtime: u64,
    pub size: u64,
    pub sha256: Option<[u8; 32]>,
    pub target: Option<Vec<u8>>,
    /// A file with several links: (device, inode) and its folder. The first one seen
    /// is stored; the others point at it.
    pub link: Option<((u64, u64), String)>,
}

#[derive(Debug, Clone)]
pub struct DirSpec {
    /// Relative path, empty for the root.
    pub name: String,
    pub acl: Acl,
    pub files: Vec<FileSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct PackageSpec {
    /// `--info KEY:VALUE` pairs by package-info field name.
    pub info: Vec<(String, String)>,
    pub replaces_priority: Option<String>,
    /// Folders in mkpkg's order: the root, then the others sorted by path.
    pub dirs: Vec<DirSpec>,
    pub installed_size: u64,
    /// Scripts by name (`post-install`, ...).
    pub scripts: Vec<(String, Vec<u8>)>,
    pub triggers: Vec<String>,
}

fn bad(field: &str, why: &str) -> Error {
    Error::format(
        "mkpkg",
        format!("info field '{field}' has invalid value: {why}"),
    )
}

/// A scalar written from its text, as the schema's `fromstring` does.
pub(crate) fn scalar(w: &mut Writer, name: &str, kind: Kind, text: &str) -> Result<Val> {
    Ok(match kind {
        Kind::Blob(Scalar::HexBlob) => {
            let b = crate::checksum::decode_hex(text).ok_or_else(|| bad(name, "not hex"))?;
            w.blob(&b)
        }
        Kind::Blob(Scalar::Version) => {
            if !crate::version::is_valid(text) {
                return Err(bad(name, "package version is invalid"));
            }
            w.blob(text.as_bytes())
        }
        Kind::Blob(_) => {
            if name == "name" && !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                return Err(bad(name, "package name is invalid"));
            }
            w.blob(text.as_bytes())
        }
        // As apk-tools reads a number: digits only, none at all being 0.
        Kind::Numeric(_) if text.is_empty() => w.int(0),
        Kind::Numeric(_) if !text.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(bad(name, "not a number"))
        }
        Kind::Numeric(_) => w.int(text.parse().map_err(|_| bad(name, "not a number"))?),
        Kind::Array(s) if std::ptr::eq(s, &schema::DEPENDENCY_ARRAY) => {
            dependencies(w, name, text)?
        }
        Kind::Array(_) => {
            // Tags: letters, digits and `_+,-.:=/[]` (apk-tools' tag characters), each
            // written as it is read (so a bad one leaves those before it written, as
            // apk-tools leaves them).
            let tag_char = |c: char| c.is_ascii_alphanumeric() || "_+,-.:=/[]".contains(c);
            let mut slots = vec![Val::NULL];
            for t in text.split_whitespace() {
                if !t.chars().all(tag_char) {
                    return Err(bad(name, &format!("invalid tag '{t}'")));
                }
                slots.push(w.blob(t.as_bytes()));
            }
            w.obj(&slots, TYPE_OBJECT)
        }
        _ => return Err(bad(name, "not settable")),
    })
}

/// A scalar from its text where apk-tools keeps going on a bad value (indexes
/// converted from v2): the value that does not convert is stored as apk-tools stores
/// it, an error value with its error code.
pub(crate) fn scalar_or_error(w: &mut Writer, name: &str, kind: Kind, text: &str) -> Val {
    // apk-tools' error numbers: EINVAL, and its own codes from 1024 on.
    const EINVAL: u32 = 22;
    const PKGNAME_FORMAT: u32 = 1060;
    const PKGVERSION_FORMAT: u32 = 1061;
    const DEPENDENCY_FORMAT: u32 = 1062;
    const ADB_PACKAGE_FORMAT: u32 = 1072;
    match scalar(w, name, kind, text) {
        Ok(v) => v,
        Err(_) => Val(super::value::TYPE_ERROR
            | match kind {
                Kind::Blob(Scalar::Version) => PKGVERSION_FORMAT,
                Kind::Blob(Scalar::String) if name == "name" => PKGNAME_FORMAT,
                Kind::Array(s) if std::ptr::eq(s, &schema::DEPENDENCY_ARRAY) => DEPENDENCY_FORMAT,
                Kind::Array(_) => ADB_PACKAGE_FORMAT,
                _ => EINVAL,
            }),
    }
}

/// A dependency list: each atom an object (name, version unless any, match unless
/// `=`), the list sorted with duplicates dropped.
fn dependencies(w: &mut Writer, field: &str, text: &str) -> Result<Val> {
    let mut items = Vec::new();
    for atom in text.split_whitespace() {
        items.push(dependency(w, field, atom)?);
    }
    Ok(dependency_list(w, items, TYPE_OBJECT))
}

/// One dependency atom as an object.
pub(crate) fn dependency(w: &mut Writer, field: &str, atom: &str) -> Result<Val> {
    let d = dep::Dependency::parse(atom).map_err(|e| bad(field, &e.to_string()))?;
    let name = w.blob(d.name.as_bytes());
    // apk-tools' match bits: equal 1, less 2, greater 4, fuzzy 8, conflict 16.
    let bits = d.op.bits();
    let mut m = u64::from(bits & dep::Op::FUZZY);
    if bits & dep::Op::EQUAL != 0 {
        m |= super::dump::op::EQUAL;
    }
    if bits & dep::Op::LESS != 0 {
        m |= super::dump::op::LESS;
    }
    if bits & dep::Op::GREATER != 0 {
        m |= super::dump::op::GREATER;
    }
    if d.conflict {
        m |= super::dump::op::CONFLICT;
    }
    let any = super::dump::op::EQUAL | super::dump::op::LESS | super::dump::op::GREATER;
    let mut slots = vec![Val::NULL; 4];
    slots[1] = name;
    if m != any {
        slots[2] = w.blob(d.version.as_bytes());
        if m != super::dump::op::EQUAL {
            slots[3] = w.int(m);
        }
    }
    Ok(w.obj(&slots, TYPE_OBJECT))
}

/// Dependency objects as a list (`kind`: apk-tools writes some as arrays, some as
/// objects), sorted with duplicates dropped; null when empty.
pub(crate) fn dependency_list(w: &mut Writer, mut items: Vec<Val>, kind: u32) -> Val {
    let db = w.db();
    items.sort_by(|a, b| compare_obj(&db, &schema::DEPENDENCY, &db.obj(*a), &db.obj(*b)));
    items.dedup();
    let mut slots = vec![Val::NULL];
    slots.extend(items);
    w.obj(&slots, kind)
}

fn acl_obj(w: &mut Writer, a: &Acl) -> Val {
    let mode = w.int(u64::from(a.mode));
    let user = w.blob(a.user.as_bytes());
    let group = w.blob(a.group.as_bytes());
    let mut slots = vec![Val::NULL; 5];
    (slots[acl::MODE], slots[acl::USER], slots[acl::GROUP]) = (mode, user, group);
    if !a.xattrs.is_empty() {
        // `name\0value` each, sorted by their bytes; apk-tools' list holds seven.
        let mut items: Vec<Val> = a
            .xattrs
            .iter()
            .take(7)
            .map(|(n, v)| w.blob_parts(&[n, b"\0", v]))
            .collect();
        let db = w.db();
        items.sort_by(|x, y| db.blob(*x).cmp(&db.blob(*y)));
        let mut list = vec![Val::NULL];
        list.extend(items);
        slots[acl::XATTRS] = w.obj(&list, super::value::TYPE_ARRAY);
    }
    w.obj(&slots, TYPE_OBJECT)
}

/// Where one file's contents go: its folder's and its own index (1-based) in the tree,
/// and its path.
pub type DataSlot = (u32, u32, String);

/// The package's ADB block, and its files with contents in data-block order.
pub fn build(spec: &PackageSpec) -> Result<(Vec<u8>, Vec<DataSlot>)> {
    let mut w = Writer::new(40);
    // Package info in field order; `arch` defaults to the build's architecture.
    let mut info = vec![Val::NULL; PKGINFO.fields.len() + 1];
    let mut given: Vec<Option<&str>> = vec![None; PKGINFO.fields.len() + 1];
    for (k, v) in &spec.info {
        let i = PKGINFO
            .fields
            .iter()
            .position(|(n, _)| n == k)
            .map(|i| i + 1)
            .filter(|&i| i != pi::FILE_SIZE && i != pi::INSTALLED_SIZE)
            .ok_or_else(|| Error::format("mkpkg", format!("invalid info field: {k}")))?;
        given[i] = Some(v);
    }
    for (i, n) in [(pi::NAME, "name"), (pi::VERSION, "version")] {
        if given[i].is_none() {
            return Err(Error::format(
                "mkpkg",
                format!("required info field '{n}' not provided"),
            ));
        }
    }
    if given[pi::ARCH].is_none() {
        given[pi::ARCH] = Some(std::env::consts::ARCH);
    }
    for i in 1..info.len() {
        if let Some(text) = given[i] {
            let (name, kind) = PKGINFO.fields[i - 1];
            info[i] = scalar(&mut w, name, kind, text)?;
        }
    }
    let mut package = vec![Val::NULL; schema::PACKAGE.fields.len() + 1];
    if let Some(q) = &spec.replaces_priority {
        package[pkg::REPLACES_PRIORITY] =
            scalar(&mut w, "replaces-priority", Kind::Numeric(Scalar::Int), q)?;
    }
    // Folders and files.
    let mut paths = Vec::new();
    let mut links: std::collections::HashMap<(u64, u64), Val> = Default::default();
    for d in &spec.dirs {
        let mut files = Vec::new();
        for f in &d.files {
            let mut target = Val::NULL;
            if let Some((key, dir)) = &f.link {
                match links.get(key) {
                    Some(v) => target = *v,
                    None => {
                        // The first link: its path is what the others point at.
                        let mode = 0o100000u16.to_le_bytes();
                        let v = if dir.is_empty() {
                            w.blob_parts(&[&mode, f.name.as_bytes()])
                        } else {
                            w.blob_parts(&[&mode, dir.as_bytes(), b"/", f.name.as_bytes()])
                        };
                        links.insert(*key, v);
                    }
                }
            }
            let name = w.blob(f.name.as_bytes());
            let hash = f.sha256.map_or(Val::NULL, |h| w.blob(&h));
            if let Some(t) = &f.target {
                // Symlinks and devices: mode and data as one blob.
                target = w.blob(t);
            }
            let mtime = w.int(f.mtime);
            let size = w.int(f.size);
            let acl = acl_obj(&mut w, &f.acl);
            let mut slots = vec![Val::NULL; 7];
            slots[fi::NAME] = name;
            slots[fi::HASHES] = hash;
            slots[fi::TARGET] = target;
            slots[fi::MTIME] = mtime;
            slots[fi::SIZE] = size;
            slots[fi::ACL] = acl;
            files.push(w.obj(&slots, TYPE_OBJECT));
        }
        let name = w.blob(d.name.as_bytes());
        let acl = acl_obj(&mut w, &d.acl);
        let db = w.db();
        files.sort_by(|a, b| compare_obj(&db, &schema::FILE, &db.obj(*a), &db.obj(*b)));
        let mut fslots = vec![Val::NULL];
        fslots.extend(files);
        let files = w.obj(&fslots, TYPE_OBJECT);
        let mut slots = vec![Val::NULL; 4];
        (slots[di::NAME], slots[di::ACL], slots[di::FILES]) = (name, acl, files);
        paths.push(w.obj(&slots, TYPE_OBJECT));
    }
    info[pi::INSTALLED_SIZE] = w.int(spec.installed_size);
    // The unique id: 20 bytes, filled in once the block is complete.
    let uid = w.blob_raw(&[0u8; 20]);
    info[pi::HASHES] = uid;
    package[pkg::INFO] = w.obj(&info, TYPE_OBJECT);
    {
        let db = w.db();
        paths.sort_by(|a, b| compare_obj(&db, &schema::DIR, &db.obj(*a), &db.obj(*b)));
    }
    let mut pslots = vec![Val::NULL];
    pslots.extend(paths.iter().copied());
    package[pkg::PATHS] = w.obj(&pslots, TYPE_OBJECT);
    if !spec.scripts.is_empty() {
        let mut slots = vec![Val::NULL; schema::SCRIPT_NAMES.len() + 1];
        for (i, n) in schema::SCRIPT_NAMES.iter().enumerate() {
            if let Some((_, body)) = spec.scripts.iter().find(|(s, _)| s == n) {
                slots[i + 1] = w.blob(body);
            }
        }
        package[pkg::SCRIPTS] = w.obj(&slots, TYPE_OBJECT);
    }
    if !spec.triggers.is_empty() {
        let mut slots = vec![Val::NULL];
        for t in &spec.triggers {
            slots.push(w.blob(t.as_bytes()));
        }
        package[pkg::TRIGGERS] = w.obj(&slots, TYPE_OBJECT);
    }
    let root = w.obj(&package, TYPE_OBJECT);
    let mut block = w.finish(root);
    let digest = Sha256::digest(&block);
    let at = uid.value() as usize + 1;
    block[at..at + 20].copy_from_slice(&digest[..20]);
    // Data blocks follow the paths as written (sorted), files with content only.
    let db = super::value::Db::new(&block);
    let ps = db.obj(db.obj(db.root()).val(pkg::PATHS));
    let mut data = Vec::new();
    for i in 1..=ps.len() {
        let d = ps.obj(i);
        let dir = d.str(di::NAME).unwrap_or_default().into_owned();
        let files = d.obj(di::FILES);
        for j in 1..=files.len() {
            let f = files.obj(j);
            if f.blob(fi::TARGET).is_some() || f.int(fi::SIZE) == 0 {
                continue;
            }
            let name = f.str(fi::NAME).unwrap_or_default();
            let path = if dir.is_empty() {
                name.into_owned()
            } else {
                format!("{dir}/{name}")
            };
            data.push((i as u32, j as u32, path));
        }
    }
    Ok((block, data))
}

/// A v3 package with what a v2 package holds: its `.PKGINFO` metadata (apk-tools'
/// field names), scripts and trigger folders, and its files with their owners, modes,
/// times, link targets and extended attributes. Returns the file (uncompressed, signed
/// with `keys`) ready for [`super::container::compress`].
pub fn from_v2(bytes: &[u8], what: &str, keys: &[&crate::sign::PrivateKey]) -> Result<Vec<u8>> {
    use std::collections::{BTreeMap, HashMap};
    let pkg = crate::v2::package::Package::parse(bytes, what)?;
    let mut spec = PackageSpec::default();
    let mut lists: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &pkg.pkginfo.fields {
        let key = match k.as_str() {
            "pkgname" => "name",
            "pkgver" => "version",
            "pkgdesc" => "description",
            "arch" => "arch",
            "license" => "license",
            "origin" => "origin",
            "maintainer" => "maintainer",
            "url" => "url",
            "commit" => "repo-commit",
            "builddate" => "build-time",
            "provider_priority" => "provider-priority",
            "replaces_priority" => {
                spec.replaces_priority = Some(v.clone());
                continue;
            }
            "size" => {
                spec.installed_size = v.parse().unwrap_or(0);
                continue;
            }
            "depend" | "provides" | "replaces" | "install_if" => {
                let list = match k.as_str() {
                    "depend" => "depends",
                    "install_if" => "install-if",
                    other => other,
                };
                lists.entry(list).or_default().push(v);
                continue;
            }
            _ => continue,
        };
        if !v.is_empty() {
            spec.info.push((key.to_owned(), v.clone()));
        }
    }
    for (k, v) in lists {
        spec.info.push((k.to_owned(), v.join(" ")));
    }
    spec.triggers = pkg.pkginfo.triggers();
    spec.scripts = pkg
        .scripts()
        .filter_map(|(n, body)| {
            let n = n.trim_start_matches('.');
            schema::SCRIPT_NAMES
                .contains(&n)
                .then(|| (n.to_owned(), body.to_vec()))
        })
        .collect();
    // Folders by path (the root first), files in archive order, contents by path.
    let mut dirs: BTreeMap<String, DirSpec> = BTreeMap::new();
    let root_acl = Acl {
        mode: 0o755,
        user: "root".into(),
        group: "root".into(),
        xattrs: Vec::new(),
    };
    dirs.insert(
        String::new(),
        DirSpec {
            name: String::new(),
            acl: root_acl.clone(),
            files: Vec::new(),
        },
    );
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    let mut inodes: HashMap<String, u64> = HashMap::new();
    let acl_of = |h: &crate::v2::archive::EntryHeader| Acl {
        mode: h.mode & 0o7777,
        user: h.uname.clone().unwrap_or_else(|| h.uid.to_string()),
        group: h.gname.clone().unwrap_or_else(|| h.gid.to_string()),
        xattrs: h
            .xattrs
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.clone()))
            .collect(),
    };
    pkg.walk_data(bytes, what, |h, data| {
        use crate::v2::archive::EntryKind;
        let path = h.path.trim_end_matches('/');
        if h.kind == EntryKind::Dir {
            let d = dirs.entry(path.to_owned()).or_insert_with(|| DirSpec {
                name: path.to_owned(),
                acl: root_acl.clone(),
                files: Vec::new(),
            });
            d.acl = acl_of(h);
            return Ok(());
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut f = FileSpec {
            name: name.to_owned(),
            acl: acl_of(h),
            mtime: h.mtime,
            size: 0,
            sha256: None,
            target: None,
            link: None,
        };
        match h.kind {
            EntryKind::File => {
                f.size = data.len() as u64;
                f.sha256 = Some(Sha256::digest(data).into());
                let n = inodes.len() as u64;
                let ino = *inodes.entry(path.to_owned()).or_insert(n);
                f.link = Some(((u64::MAX, ino), dir.to_owned()));
                contents.insert(path.to_owned(), data.to_vec());
            }
            EntryKind::HardLink => {
                let src = h.link.as_deref().unwrap_or("");
                let ino = *inodes.get(src).ok_or_else(|| {
                    Error::format(what, format!("{path}: hard link to unknown '{src}'"))
                })?;
                let body = contents.get(src).cloned().unwrap_or_default();
                f.size = body.len() as u64;
                f.sha256 = Some(Sha256::digest(&body).into());
                f.link = Some(((u64::MAX, ino), dir.to_owned()));
                // Whichever of the links the tree lists first carries the contents.
                contents.insert(path.to_owned(), body);
            }
            EntryKind::Symlink => {
                let mut t = 0o120000u16.to_le_bytes().to_vec();
                t.extend_from_slice(h.link.as_deref().unwrap_or("").as_bytes());
                f.target = Some(t);
            }
            _ => {
                return Err(Error::format(
                    what,
                    format!("{path}: unsupported entry type"),
                ))
            }
        }
        dirs.entry(dir.to_owned())
            .or_insert_with(|| DirSpec {
                name: dir.to_owned(),
                acl: root_acl.clone(),
                files: Vec::new(),
            })
            .files
            .push(f);
        Ok(())
    })?;
    // Only the first of a set of hard links (in the order the tree is written) keeps
    // its contents: the link marks of files without siblings are dropped.
    let mut counts: HashMap<(u64, u64), usize> = HashMap::new();
    for d in dirs.values() {
        for f in &d.files {
            if let Some((k, _)) = &f.link {
                *counts.entry(*k).or_default() += 1;
            }
        }
    }
    for d in dirs.values_mut() {
        for f in &mut d.files {
            if f.link.as_ref().is_some_and(|(k, _)| counts[k] < 2) {
                f.link = None;
            }
        }
    }
    spec.dirs = dirs.into_values().collect();
    let (tree, data) = build(&spec)?;
    let mut sigs = Vec::new();
    for k in keys {
        sigs.push(super::trust::sign(super::SCHEMA_PACKAGE, &tree, k)?);
    }
    let mut file = super::container::write(super::SCHEMA_PACKAGE, &tree, &sigs);
    for (i, j, path) in &data {
        let mut payload = i.to_le_bytes().to_vec();
        payload.extend_from_slice(&j.to_le_bytes());
        payload.extend_from_slice(contents.get(path).map_or(&[][..], |c| c.as_slice()));
        file.extend(super::container::block(2, &payload));
    }
    Ok(file)
}
