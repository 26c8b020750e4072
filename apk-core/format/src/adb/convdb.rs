//! `convdb`: an installed database (`lib/apk/db/installed`, its scripts and triggers)
//! as a v3 installed database, each package a nested package database, as apk-tools
//! 3's `convdb` converts it: the text read line by line in order, values converted as
//! it converts them, scripts found by the package identity in their archive names.

use super::index::v2_field;
use super::schema::{self, acl, di, fi, pi, pkg, PKGINFO};
use super::value::{Val, TYPE_OBJECT};
use super::writer::{compare, Writer};

/// One script of the scripts archive (`name-version.IDENTITY.action`).
pub struct Script {
    pub identity: String,
    /// Field number in the scripts object.
    pub kind: usize,
    pub body: Vec<u8>,
    /// Trigger globs from the `triggers` file, given to the package's first script.
    pub triggers: Option<String>,
}

/// The scripts of a scripts archive's entries (`(name, contents)` of regular files),
/// with the `triggers` file's globs attached as apk-tools attaches them.
pub fn scripts(entries: Vec<(String, Vec<u8>)>, triggers: &str) -> Vec<Script> {
    let mut out: Vec<Script> = entries
        .into_iter()
        .filter_map(|(name, body)| {
            let (rest, action) = name.rsplit_once('.')?;
            if rest.is_empty() {
                return None;
            }
            let (_, identity) = rest.rsplit_once('.')?;
            let kind = schema::SCRIPT_NAMES.iter().position(|n| *n == action)? + 1;
            Some(Script {
                identity: identity.to_owned(),
                kind,
                body,
                triggers: None,
            })
        })
        .collect();
    for line in triggers.lines() {
        let Some((id, globs)) = line.split_once(' ') else {
            continue;
        };
        if let Some(s) = out.iter_mut().find(|s| s.identity == id) {
            s.triggers = Some(globs.to_owned());
        }
    }
    out
}

fn slots(obj: &schema::Object) -> Vec<Val> {
    vec![Val::NULL; obj.fields.len() + 1]
}

/// An array written as apk-tools writes one through an object (its items sorted
/// when its schema sorts them).
fn array(w: &mut Writer, items: &mut Vec<Val>, item: schema::Kind) -> Val {
    {
        let db = w.db();
        items.sort_by(|a, b| compare(&db, item, *a, *b));
    }
    let mut list = vec![Val::NULL];
    list.append(items);
    w.obj(&list, TYPE_OBJECT)
}

/// `uid:gid:mode[:xattr digest]` as an ACL object, owners named by `users`/`groups`.
fn acl_obj(
    w: &mut Writer,
    text: &str,
    users: &dyn Fn(u32) -> String,
    groups: &dyn Fn(u32) -> String,
) -> Val {
    let mut parts = text.split(':');
    let mut num = |radix: u32| -> u64 {
        let p = parts.next().unwrap_or("");
        let digits = p.len() - p.trim_start_matches(|c: char| c.is_digit(radix)).len();
        u64::from_str_radix(&p[..digits], radix).unwrap_or(0)
    };
    let (uid, gid, mode) = (num(10), num(10), num(8));
    let mut a = slots(&schema::ACL);
    a[acl::USER] = w.blob(users(uid as u32).as_bytes());
    a[acl::GROUP] = w.blob(groups(gid as u32).as_bytes());
    a[acl::MODE] = w.int(mode);
    w.obj(&a, TYPE_OBJECT)
}

/// The tree of the v3 installed database for `installed` (the text), `scripts` (see
/// [`scripts`]), owners named by `users` and `groups` (uid/gid to name).
pub fn convert(
    installed: &str,
    scripts: &[Script],
    users: &dyn Fn(u32) -> String,
    groups: &dyn Fn(u32) -> String,
) -> Vec<u8> {
    let file_item = schema::FILE_ARRAY.fields[0].1;
    let dir_item = schema::DIR_ARRAY.fields[0].1;
    let mut dbi = Writer::new(10);
    let mut packages: Vec<Val> = Vec::new();
    let mut w = Writer::new(1000);
    let (mut info, mut scr, mut file, mut path, mut package) = (
        slots(&PKGINFO),
        slots(&schema::SCRIPTS),
        slots(&schema::FILE),
        slots(&schema::DIR),
        slots(&schema::PACKAGE),
    );
    let (mut files, mut paths, mut triggers): (Vec<Val>, Vec<Val>, Vec<Val>) = Default::default();
    // Appends the file being read to the folder's files, the folder to the paths.
    let push_file = |w: &mut Writer, file: &mut Vec<Val>, files: &mut Vec<Val>| {
        let v = w.obj(file, TYPE_OBJECT);
        if !v.is_null() {
            files.push(v);
        }
        file.iter_mut().for_each(|x| *x = Val::NULL);
    };
    let push_path =
        |w: &mut Writer, path: &mut Vec<Val>, files: &mut Vec<Val>, paths: &mut Vec<Val>| {
            path[di::FILES] = array(w, files, file_item);
            let v = w.obj(path, TYPE_OBJECT);
            if !v.is_null() {
                paths.push(v);
            }
            path.iter_mut().for_each(|x| *x = Val::NULL);
        };
    for line in installed.split('\n') {
        if line.len() < 2 {
            push_file(&mut w, &mut file, &mut files);
            push_path(&mut w, &mut path, &mut files, &mut paths);
            package[pkg::INFO] = w.obj(&info, TYPE_OBJECT);
            package[pkg::PATHS] = array(&mut w, &mut paths, dir_item);
            let root = w.obj(&package, TYPE_OBJECT);
            let done = std::mem::replace(&mut w, Writer::new(1000));
            let v = dbi.adb_blob(&done.finish(root));
            if !v.is_null() {
                packages.push(v);
            }
            info.iter_mut().for_each(|x| *x = Val::NULL);
            package.iter_mut().for_each(|x| *x = Val::NULL);
            continue;
        }
        let letter = line.as_bytes()[0];
        let val = line.get(2..).unwrap_or("");
        if let Some(f) = v2_field(letter).filter(|&f| f != pi::NAME) {
            if let Some(v) = super::index::v2_value(&mut w, f, val) {
                info[f] = v;
            }
        }
        match letter {
            // The name as it is, a leading dot allowed.
            b'P' => info[pi::NAME] = w.blob(val.as_bytes()),
            b'C' => {
                for s in scripts.iter().filter(|s| s.identity == val) {
                    scr[s.kind] = w.blob(&s.body);
                    if s.kind == 1 {
                        if let Some(t) = &s.triggers {
                            for word in t.split_ascii_whitespace() {
                                let b = w.blob(word.as_bytes());
                                triggers.push(b);
                            }
                            let mut list = vec![Val::NULL];
                            list.append(&mut triggers);
                            package[pkg::TRIGGERS] = w.obj(&list, TYPE_OBJECT);
                        }
                    }
                }
                package[pkg::SCRIPTS] = w.obj(&scr, TYPE_OBJECT);
                scr.iter_mut().for_each(|x| *x = Val::NULL);
            }
            b'F' => {
                push_file(&mut w, &mut file, &mut files);
                push_path(&mut w, &mut path, &mut files, &mut paths);
                path[di::NAME] = w.blob(val.as_bytes());
            }
            b'M' => path[di::ACL] = acl_obj(&mut w, val, users, groups),
            b'R' => {
                push_file(&mut w, &mut file, &mut files);
                file[fi::NAME] = w.blob(val.as_bytes());
            }
            b'a' => file[fi::ACL] = acl_obj(&mut w, val, users, groups),
            b'Z' => {
                file[fi::HASHES] = match crate::checksum::Checksum::parse(val) {
                    Ok(c) => w.blob(c.bytes()),
                    Err(_) => Val::NULL,
                }
            }
            _ => {}
        }
    }
    let list = array(
        &mut dbi,
        &mut packages,
        schema::PACKAGE_ADB_ARRAY.fields[0].1,
    );
    let root = dbi.obj(&[Val::NULL, list], TYPE_OBJECT);
    dbi.finish(root)
}
