//! The schemas of apk-tools 3's databases: field names, kinds and how scalars are
//! written as text (apk-v3(5); the field numbers are the file format).

/// How a scalar is turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// Text as stored.
    String,
    /// A version, ordered as apk orders versions.
    Version,
    /// Text printed as a block (scripts).
    MultilineString,
    /// Bytes printed as hex (hashes, link targets, commits).
    HexBlob,
    /// `name=hexvalue` (extended attributes).
    Xattr,
    /// A number.
    Int,
    /// Seconds since the epoch.
    Time,
    /// A number printed in octal (modes).
    Octal,
    /// A size in bytes.
    Size,
}

/// What a field or array item holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Blob(Scalar),
    Numeric(Scalar),
    Object(&'static Object),
    Array(&'static Object),
    /// A nested database (the packages of an installed database).
    Adb(u32, &'static Object),
}

/// An object's fields (slot `i` is `fields[i - 1]`), or an array's item kind
/// (`fields[0]`); `dependency` objects print as one string.
#[derive(Debug)]
pub struct Object {
    pub fields: &'static [(&'static str, Kind)],
    pub as_dependency: bool,
}

const fn obj(fields: &'static [(&'static str, Kind)]) -> Object {
    Object {
        fields,
        as_dependency: false,
    }
}

use Kind::{Blob, Numeric};
use Scalar::*;

pub static DEPENDENCY: Object = Object {
    fields: &[
        ("name", Blob(String)),
        ("version", Blob(Version)),
        ("match", Numeric(Int)),
    ],
    as_dependency: true,
};
pub static DEPENDENCY_ARRAY: Object = Object {
    fields: &[("", Kind::Object(&DEPENDENCY))],
    as_dependency: false,
};
pub static STRING_ARRAY: Object = Object {
    fields: &[("", Blob(String))],
    as_dependency: false,
};
pub static XATTR_ARRAY: Object = Object {
    fields: &[("", Blob(Xattr))],
    as_dependency: false,
};

/// Field numbers of package metadata (`info` of a package, items of an index).
pub mod pi {
    pub const NAME: usize = 1;
    pub const VERSION: usize = 2;
    pub const HASHES: usize = 3;
    pub const DESCRIPTION: usize = 4;
    pub const ARCH: usize = 5;
    pub const LICENSE: usize = 6;
    pub const ORIGIN: usize = 7;
    pub const MAINTAINER: usize = 8;
    pub const URL: usize = 9;
    pub const REPO_COMMIT: usize = 10;
    pub const BUILD_TIME: usize = 11;
    pub const INSTALLED_SIZE: usize = 12;
    pub const FILE_SIZE: usize = 13;
    pub const PROVIDER_PRIORITY: usize = 14;
    pub const DEPENDS: usize = 15;
    pub const PROVIDES: usize = 16;
    pub const REPLACES: usize = 17;
    pub const INSTALL_IF: usize = 18;
    pub const RECOMMENDS: usize = 19;
    pub const LAYER: usize = 20;
    pub const TAGS: usize = 21;
}

pub static PKGINFO: Object = obj(&[
    ("name", Blob(String)),
    ("version", Blob(Version)),
    ("hashes", Blob(HexBlob)),
    ("description", Blob(String)),
    ("arch", Blob(String)),
    ("license", Blob(String)),
    ("origin", Blob(String)),
    ("maintainer", Blob(String)),
    ("url", Blob(String)),
    ("repo-commit", Blob(HexBlob)),
    ("build-time", Numeric(Time)),
    ("installed-size", Numeric(Size)),
    ("file-size", Numeric(Size)),
    ("provider-priority", Numeric(Int)),
    ("depends", Kind::Array(&DEPENDENCY_ARRAY)),
    ("provides", Kind::Array(&DEPENDENCY_ARRAY)),
    ("replaces", Kind::Array(&DEPENDENCY_ARRAY)),
    ("install-if", Kind::Array(&DEPENDENCY_ARRAY)),
    ("recommends", Kind::Array(&DEPENDENCY_ARRAY)),
    ("layer", Numeric(Int)),
    ("tags", Kind::Array(&STRING_ARRAY)),
]);
pub static PKGINFO_ARRAY: Object = Object {
    fields: &[("", Kind::Object(&PKGINFO))],
    as_dependency: false,
};

/// Field numbers of an index.
pub mod ndx {
    pub const DESCRIPTION: usize = 1;
    pub const PACKAGES: usize = 2;
    pub const PKGNAME_SPEC: usize = 3;
}

pub static INDEX: Object = obj(&[
    ("description", Blob(String)),
    ("packages", Kind::Array(&PKGINFO_ARRAY)),
    ("pkgname-spec", Blob(String)),
]);

/// Field numbers of an ACL.
pub mod acl {
    pub const MODE: usize = 1;
    pub const USER: usize = 2;
    pub const GROUP: usize = 3;
    pub const XATTRS: usize = 4;
}

pub static ACL: Object = obj(&[
    ("mode", Numeric(Octal)),
    ("user", Blob(String)),
    ("group", Blob(String)),
    ("xattrs", Kind::Array(&XATTR_ARRAY)),
]);

/// Field numbers of a file.
pub mod fi {
    pub const NAME: usize = 1;
    pub const ACL: usize = 2;
    pub const SIZE: usize = 3;
    pub const MTIME: usize = 4;
    pub const HASHES: usize = 5;
    pub const TARGET: usize = 6;
}

pub static FILE: Object = obj(&[
    ("name", Blob(String)),
    ("acl", Kind::Object(&ACL)),
    ("size", Numeric(Int)),
    ("mtime", Numeric(Time)),
    ("hash", Blob(HexBlob)),
    ("target", Blob(HexBlob)),
]);
pub static FILE_ARRAY: Object = Object {
    fields: &[("", Kind::Object(&FILE))],
    as_dependency: false,
};

/// Field numbers of a directory.
pub mod di {
    pub const NAME: usize = 1;
    pub const ACL: usize = 2;
    pub const FILES: usize = 3;
}

pub static DIR: Object = obj(&[
    ("name", Blob(String)),
    ("acl", Kind::Object(&ACL)),
    ("files", Kind::Array(&FILE_ARRAY)),
]);
pub static DIR_ARRAY: Object = Object {
    fields: &[("", Kind::Object(&DIR))],
    as_dependency: false,
};

/// Script names by field number.
pub static SCRIPT_NAMES: [&str; 7] = [
    "trigger",
    "pre-install",
    "post-install",
    "pre-deinstall",
    "post-deinstall",
    "pre-upgrade",
    "post-upgrade",
];

pub static SCRIPTS: Object = obj(&[
    ("trigger", Blob(MultilineString)),
    ("pre-install", Blob(MultilineString)),
    ("post-install", Blob(MultilineString)),
    ("pre-deinstall", Blob(MultilineString)),
    ("post-deinstall", Blob(MultilineString)),
    ("pre-upgrade", Blob(MultilineString)),
    ("post-upgrade", Blob(MultilineString)),
]);

/// Field numbers of a package.
pub mod pkg {
    pub const INFO: usize = 1;
    pub const PATHS: usize = 2;
    pub const SCRIPTS: usize = 3;
    pub const TRIGGERS: usize = 4;
    pub const REPLACES_PRIORITY: usize = 5;
}

pub static PACKAGE: Object = obj(&[
    ("info", Kind::Object(&PKGINFO)),
    ("paths", Kind::Array(&DIR_ARRAY)),
    ("scripts", Kind::Object(&SCRIPTS)),
    ("triggers", Kind::Array(&STRING_ARRAY)),
    ("replaces-priority", Numeric(Int)),
]);
pub static PACKAGE_ADB_ARRAY: Object = Object {
    fields: &[("", Kind::Adb(super::SCHEMA_PACKAGE, &PACKAGE))],
    as_dependency: false,
};

pub static INSTALLED_DB: Object = obj(&[("packages", Kind::Array(&PACKAGE_ADB_ARRAY))]);

/// The root object of a database of `schema`.
pub fn root(schema: u32) -> Option<&'static Object> {
    match schema {
        super::SCHEMA_INDEX => Some(&INDEX),
        super::SCHEMA_INSTALLED_DB => Some(&INSTALLED_DB),
        super::SCHEMA_PACKAGE => Some(&PACKAGE),
        _ => None,
    }
}
