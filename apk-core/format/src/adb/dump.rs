//! Walking an ADB file as `apk adbdump` does: each block in turn (the tree under its
//! schema, then a comment per signature and data block), every set field by its
//! schema name, scalars written as apk-tools writes them. The events go to a [`Sink`]
//! (the binary's YAML and JSON writers).

use super::container::{parse_blocks, BlockKind, Container};
use super::schema::{self, Kind, Object, Scalar};
use super::trust;
use super::value::{Db, Val};
use crate::sign::Keyring;

/// Where the walk's events go.
pub trait Sink {
    /// An object that is a database of `schema` (YAML prints `#%SCHEMA: ...`).
    fn start_schema(&mut self, schema: u32);
    fn start_object(&mut self);
    fn start_array(&mut self, len: usize);
    fn end(&mut self);
    fn comment(&mut self, text: &str);
    fn key(&mut self, key: &str);
    fn string(&mut self, text: &str, multiline: bool);
    /// A number; `scalar` says how text formats write it ([`number_text`]: octal
    /// modes in YAML), JSON writes every number in decimal.
    fn number(&mut self, value: u64, scalar: Scalar);
}

/// Dumps an uncompressed ADB file (see [`super::decompress`]); signatures are checked
/// against `keys` and reported, never required.
pub fn dump(c: &Container<'_>, keys: Option<&Keyring>, sink: &mut dyn Sink) {
    walk_blocks(c.schema, &c.blocks, keys, sink);
}

fn walk_blocks(
    schema: u32,
    blocks: &[super::container::Block<'_>],
    keys: Option<&Keyring>,
    sink: &mut dyn Sink,
) {
    let Some(adb) = blocks.first().map(|b| b.payload) else {
        return;
    };
    let db = Db::new(adb);
    for block in blocks {
        match block.kind {
            BlockKind::Adb => {
                sink.start_schema(schema);
                sink.comment(&format!(
                    "ADB block, size: {}, compat: {}, ver: {}",
                    adb.len(),
                    db.compat_version(),
                    db.version()
                ));
                if let Some(root) = schema::root(schema) {
                    if db.compat_version() == 0 {
                        dump_object(&db, root, db.root(), keys, sink);
                    }
                }
                sink.end();
            }
            BlockKind::Sig => sink.comment(&signature_comment(schema, adb, block.payload, keys)),
            BlockKind::Data => sink.comment(&format!("data block, size: {}", block.payload.len())),
        }
    }
}

/// `sig v00 h0a <hex of the signature, cut>..: OK` as apk-tools prints it.
fn signature_comment(schema: u32, adb: &[u8], sig: &[u8], keys: Option<&Keyring>) -> String {
    let (ver, alg) = (
        sig.first().copied().unwrap_or(0),
        sig.get(1).copied().unwrap_or(0),
    );
    let mut s = format!("sig v{ver:02x} h{alg:02x} ");
    // apk-tools fills a 160-byte buffer and stops the hex 40 bytes before its end.
    let mut room = 160usize.saturating_sub(s.len());
    for b in sig.iter().skip(2) {
        if room <= 40 {
            break;
        }
        s.push_str(&format!("{b:02x}"));
        room -= 2;
    }
    if room <= 40 {
        s.push_str("..");
    }
    let verdict = match keys {
        Some(k) => match trust::verify_signature(schema, adb, sig, k) {
            Ok(()) => "OK".to_owned(),
            Err(e) => e.to_string(),
        },
        None => "UNTRUSTED signature".to_owned(),
    };
    s.push_str(": ");
    s.push_str(&verdict);
    s
}

fn dump_item(
    db: &Db<'_>,
    name: Option<&str>,
    kind: Kind,
    v: Val,
    keys: Option<&Keyring>,
    sink: &mut dyn Sink,
) {
    if v.is_null() {
        return;
    }
    if let Some(n) = name {
        sink.key(n);
    }
    match kind {
        Kind::Array(schema) => {
            let o = db.obj(v);
            sink.start_array(o.len());
            if let Some((_, item)) = schema.fields.first() {
                for i in 1..=o.len() {
                    dump_item(db, None, *item, o.val(i), keys, sink);
                }
            }
            sink.end();
        }
        Kind::Adb(schema_id, _) => {
            let Some(nested) = db.blob(v) else { return };
            if let Ok(blocks) = parse_blocks(nested) {
                walk_blocks(schema_id, &blocks, keys, sink);
            }
        }
        Kind::Object(schema) if schema.as_dependency => dump_object(db, schema, v, keys, sink),
        Kind::Object(schema) => {
            sink.start_object();
            dump_object(db, schema, v, keys, sink);
            sink.end();
        }
        Kind::Blob(scalar) => {
            let text = blob_text(db, v, scalar);
            sink.string(&text, scalar == Scalar::MultilineString);
        }
        Kind::Numeric(scalar) => sink.number(db.int(v), scalar),
    }
}

fn dump_object(db: &Db<'_>, schema: &Object, v: Val, keys: Option<&Keyring>, sink: &mut dyn Sink) {
    let o = db.obj(v);
    if schema.as_dependency {
        sink.string(&dependency_text(&o), false);
        return;
    }
    for i in 1..o.num() {
        let val = o.val(i);
        if val.is_null() {
            continue;
        }
        if let Some((name, kind)) = schema.fields.get(i - 1) {
            dump_item(db, Some(name), *kind, val, keys, sink);
        }
    }
}

/// A scalar blob as text.
pub fn blob_text(db: &Db<'_>, v: Val, scalar: Scalar) -> String {
    let Some(b) = db.blob(v) else {
        return String::new();
    };
    match scalar {
        Scalar::HexBlob => hex(b),
        Scalar::Xattr => match b.iter().position(|&c| c == 0) {
            Some(i) => format!("{}={}", String::from_utf8_lossy(&b[..i]), hex(&b[i + 1..])),
            None => String::new(),
        },
        _ => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A number as apk-tools formats it for `scalar` (without pretty printing).
pub fn number_text(n: u64, scalar: Scalar) -> String {
    match scalar {
        Scalar::Octal if n != 0 => format!("0{n:o}"),
        _ => n.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// apk-tools' version-match bits in ADB dependencies.
pub mod op {
    pub const EQUAL: u64 = 1;
    pub const LESS: u64 = 2;
    pub const GREATER: u64 = 4;
    pub const FUZZY: u64 = 8;
    pub const CONFLICT: u64 = 16;
}

/// The spelling of a version-match mask, as `apk_version_op_string`.
pub fn op_text(m: u64) -> &'static str {
    use op::*;
    match m & !CONFLICT {
        x if x == LESS => "<",
        x if x == LESS | EQUAL => "<=",
        x if x == LESS | EQUAL | FUZZY => "<~",
        x if x == EQUAL | FUZZY || x == FUZZY => "~",
        x if x == EQUAL => "=",
        x if x == GREATER | EQUAL => ">=",
        x if x == GREATER | EQUAL | FUZZY => ">~",
        x if x == GREATER => ">",
        x if x == LESS | GREATER => "><",
        x if x == LESS | EQUAL | GREATER => "",
        _ => "?",
    }
}

/// A dependency object as one atom (`name`, `!name`, `name>=1.0`).
pub fn dependency_text(o: &super::value::Obj<'_>) -> String {
    let Some(name) = o.str(1) else {
        return String::new();
    };
    let m = match o.int(3) {
        0 => op::EQUAL,
        m => m,
    };
    let bang = if m & op::CONFLICT != 0 { "!" } else { "" };
    match o.str(2) {
        None => format!("{bang}{name}"),
        Some(ver) => format!("{bang}{name}{}{ver}", op_text(m)),
    }
}
