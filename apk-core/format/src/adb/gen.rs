//! `adbgen`: an ADB tree from the YAML text `adbdump` prints, as apk-tools 3 builds it.
//! The text is read line by line the way apk-tools' own reader reads it (two spaces per
//! level, `- ` items, `key: value`, `key:` opening a level, `|` blocks, `'quoted'`
//! scalars, `#` comments); each value is converted by its schema field, arrays that
//! apk-tools keeps sorted are sorted, and a nested database (the packages of an
//! installed database) is written as a block of its own inside its parent.

use super::schema::{self, Kind, Object, Scalar};
use super::value::{Val, TYPE_ERROR, TYPE_OBJECT};
use super::writer::{compare, Writer};
use crate::error::{Error, Result};

/// apk-tools' error numbers kept in values that do not convert.
const EINVAL: u32 = 22;
const PKGNAME_FORMAT: u32 = 1060;
const PKGVERSION_FORMAT: u32 = 1061;
const DEPENDENCY_FORMAT: u32 = 1062;
const ADB_NO_FROMSTRING: u32 = 1068;

struct Frame {
    obj: &'static Object,
    array: bool,
    slots: Vec<Val>,
    key: usize,
    /// This frame is the root of a nested database (its own writer).
    nested: bool,
}

struct Gen {
    writers: Vec<Writer>,
    frames: Vec<Frame>,
    done: Option<Vec<u8>>,
}

/// Arrays apk-tools sorts when it writes them (and whether it drops duplicates).
fn sorting(obj: &Object) -> Option<bool> {
    let same = |o: &Object| std::ptr::eq(obj, o);
    if same(&schema::DEPENDENCY_ARRAY) {
        Some(true)
    } else if same(&schema::XATTR_ARRAY)
        || same(&schema::PKGINFO_ARRAY)
        || same(&schema::FILE_ARRAY)
        || same(&schema::DIR_ARRAY)
        || same(&schema::PACKAGE_ADB_ARRAY)
    {
        Some(false)
    } else {
        None
    }
}

fn err(code: u32) -> Val {
    Val(TYPE_ERROR | code)
}

/// apk's unsigned number reading: digits of `radix`, then nothing else.
fn number(text: &str, radix: u32) -> Option<u64> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_digit(radix)).len();
    if digits != text.len() {
        return None;
    }
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, radix).ok()
}

impl Gen {
    fn w(&mut self) -> &mut Writer {
        self.writers.last_mut().expect("a writer")
    }

    /// A value of `kind` from its text (field `field` of `obj`).
    fn value_of(&mut self, obj: &Object, field: &str, kind: Kind, text: &str) -> Val {
        let w = self.w();
        match kind {
            Kind::Blob(Scalar::Version) => {
                if crate::version::is_valid(text) {
                    w.blob(text.as_bytes())
                } else {
                    err(PKGVERSION_FORMAT)
                }
            }
            Kind::Blob(Scalar::HexBlob) => match crate::checksum::decode_hex(text) {
                Some(b) => w.blob(&b),
                None => err(EINVAL),
            },
            Kind::Blob(Scalar::Xattr) => match text.rsplit_once('=') {
                Some((name, hex)) => match crate::checksum::decode_hex(hex) {
                    Some(v) => w.blob_parts(&[name.as_bytes(), b"\0", &v]),
                    None => err(EINVAL),
                },
                None => err(EINVAL),
            },
            Kind::Blob(_) => {
                // A package's name is checked; other names are any text.
                let pkg_name = std::ptr::eq(obj, &schema::PKGINFO) && field == "name";
                if pkg_name
                    && !text
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    return err(PKGNAME_FORMAT);
                }
                w.blob(text.as_bytes())
            }
            Kind::Numeric(Scalar::Octal) => match number(text, 8) {
                Some(n) => w.int(n),
                None => err(EINVAL),
            },
            Kind::Numeric(_) => match number(text, 10) {
                Some(n) => w.int(n),
                None => err(EINVAL),
            },
            Kind::Object(o) if o.as_dependency => {
                super::build::dependency(w, field, text).unwrap_or(err(DEPENDENCY_FORMAT))
            }
            _ => err(ADB_NO_FROMSTRING),
        }
    }

    fn start(&mut self, schema_id: Option<u32>, what: &str) -> Result<()> {
        let bad = |m: &str| Error::format(what, m.to_owned());
        let Some(parent) = self.frames.last() else {
            let root = schema_id
                .and_then(schema::root)
                .ok_or_else(|| bad("unknown schema"))?;
            self.frames.push(Frame {
                obj: root,
                array: false,
                slots: vec![Val::NULL; root.fields.len() + 1],
                key: 0,
                nested: false,
            });
            return Ok(());
        };
        let kind = if parent.array {
            parent.obj.fields[0].1
        } else if parent.key == 0 {
            return Err(bad("an object without a key"));
        } else {
            parent.obj.fields[parent.key - 1].1
        };
        let (obj, array, nested) = match kind {
            Kind::Object(o) => (o, false, false),
            Kind::Array(o) => (o, true, false),
            Kind::Adb(_, o) => (o, false, true),
            _ => return Err(bad("a value is not an object")),
        };
        if nested {
            self.writers.push(Writer::new(1000));
        }
        self.frames.push(Frame {
            obj,
            array,
            slots: if array {
                vec![Val::NULL]
            } else {
                vec![Val::NULL; obj.fields.len() + 1]
            },
            key: 0,
            nested,
        });
        Ok(())
    }

    fn end(&mut self, what: &str) -> Result<()> {
        let Some(mut f) = self.frames.pop() else {
            return Ok(());
        };
        if f.array {
            if let Some(unique) = sorting(f.obj) {
                let kind = f.obj.fields[0].1;
                let w = self.w();
                let db = w.db();
                f.slots[1..].sort_by(|a, b| compare(&db, kind, *a, *b));
                if unique {
                    let mut items = f.slots.split_off(1);
                    items.dedup();
                    f.slots.extend(items);
                }
            }
        }
        let mut val = self.w().obj(&f.slots, TYPE_OBJECT);
        if self.frames.is_empty() {
            let w = self.writers.pop().expect("the root writer");
            self.done = Some(w.finish(val));
            return Ok(());
        }
        if f.nested {
            let sub = self.writers.pop().expect("a nested writer");
            let tree = sub.finish(val);
            val = self.w().adb_blob(&tree);
        }
        let parent = self.frames.last_mut().expect("a parent");
        if parent.array {
            if !val.is_null() {
                parent.slots.push(val);
            }
        } else if parent.key > 0 {
            parent.slots[parent.key] = val;
            parent.key = 0;
        } else {
            return Err(Error::format(what, "a value without a key"));
        }
        Ok(())
    }

    fn key(&mut self, key: &str, what: &str) -> Result<()> {
        let f = self
            .frames
            .last_mut()
            .ok_or_else(|| Error::format(what, "a key outside any object"))?;
        if f.array {
            return Err(Error::format(what, format!("key '{key}' in a list")));
        }
        f.key = f
            .obj
            .fields
            .iter()
            .position(|(n, _)| *n == key)
            .map(|i| i + 1)
            .ok_or_else(|| Error::format(what, format!("unknown field '{key}'")))?;
        Ok(())
    }

    fn string(&mut self, text: &str, what: &str) -> Result<()> {
        let (obj, array, key) = match self.frames.last() {
            Some(f) => (f.obj, f.array, f.key),
            None => return Err(Error::format(what, "a value outside any object")),
        };
        if array {
            let kind = obj.fields[0].1;
            let v = self.value_of(obj, "", kind, text);
            let f = self.frames.last_mut().expect("a frame");
            // apk-tools appends nothing for a value that does not convert.
            if !v.is_null() && v.kind() != TYPE_ERROR {
                f.slots.push(v);
            }
            return Ok(());
        }
        if key == 0 {
            return Err(Error::format(what, "a value without a key"));
        }
        let (name, kind) = obj.fields[key - 1];
        let v = self.value_of(obj, name, kind, text);
        let f = self.frames.last_mut().expect("a frame");
        f.slots[key] = v;
        f.key = 0;
        Ok(())
    }
}

/// Builds the tree `text` (an `adbdump` in YAML) describes; returns its schema and the
/// ADB block.
pub fn generate(text: &str, what: &str) -> Result<(u32, Vec<u8>)> {
    // After the final newline comes an empty line: it closes every open level.
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let schema_id = first
        .strip_prefix("#%SCHEMA: ")
        .and_then(|h| {
            let digits = h.len() - h.trim_start_matches(|c: char| c.is_ascii_hexdigit()).len();
            u32::from_str_radix(&h[..digits], 16).ok()
        })
        .ok_or_else(|| Error::format(what, "no #%SCHEMA line"))?;
    let mut g = Gen {
        writers: vec![Writer::new(1000)],
        frames: Vec::new(),
        done: None,
    };
    g.start(Some(schema_id), what)?;
    let mut started = [false; 64];
    started[0] = true;
    let (mut nesting, mut multi_line, mut new_item) = (0usize, 0usize, false);
    let mut block = String::new();
    for raw in lines {
        let mut l = raw;
        let mut i = 0;
        while l.len() >= 2 && l.starts_with("  ") {
            if multi_line > 0 && i >= multi_line {
                break;
            }
            i += 1;
            l = &l[2..];
        }
        while nesting > i {
            if multi_line > 0 {
                let data = block.strip_suffix('\n').unwrap_or(&block).to_owned();
                g.string(&data, what)?;
                block.clear();
                multi_line = 0;
            }
            if started[nesting] {
                g.end(what)?;
            }
            nesting -= 1;
        }
        if let Some(rest) = l.strip_prefix("- ") {
            l = rest;
            if !started[nesting] {
                g.start(None, what)?;
                started[nesting] = true;
            }
            new_item = true;
        }
        if multi_line > 0 {
            block.push_str(l);
            block.push('\n');
            new_item = false;
            continue;
        }
        if l.starts_with('#') {
            continue;
        }
        let l = match l.find(" #") {
            Some(at) => &l[..at],
            None => l,
        };
        if l.is_empty() {
            continue;
        }
        let (mut key, mut scalar, mut opens) = ("", "", false);
        if let Some((k, v)) = l.split_once(": ") {
            (key, scalar) = (k, v);
        } else if let Some(k) = l.strip_suffix(':') {
            (key, opens) = (k, true);
        } else {
            scalar = l;
        }
        if !key.is_empty() {
            if new_item {
                nesting += 1;
                *started
                    .get_mut(nesting)
                    .ok_or_else(|| Error::format(what, "too deep"))? = false;
            }
            if !started[nesting] {
                g.start(None, what)?;
                started[nesting] = true;
            }
            g.key(key, what)?;
            if opens {
                nesting += 1;
                *started
                    .get_mut(nesting)
                    .ok_or_else(|| Error::format(what, "too deep"))? = false;
            }
        }
        if !scalar.is_empty() {
            if scalar.starts_with('|') {
                nesting += 1;
                *started
                    .get_mut(nesting)
                    .ok_or_else(|| Error::format(what, "too deep"))? = false;
                multi_line = nesting;
            } else {
                if scalar.starts_with('\'') {
                    if scalar.len() < 2 || !scalar.ends_with('\'') {
                        return Err(Error::format(what, "unterminated quoted value"));
                    }
                    scalar = &scalar[1..scalar.len() - 1];
                }
                g.string(scalar, what)?;
            }
        }
        new_item = false;
    }
    g.end(what)?;
    match g.done {
        Some(tree) => Ok((schema_id, tree)),
        None => Err(Error::format(what, "the text ends inside an object")),
    }
}
