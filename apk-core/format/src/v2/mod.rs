//! The v2 formats (apk-package(5)): concatenated gzip members holding tar streams, an
//! optional leading signature member, the APKINDEX text and `.PKGINFO` key-value text.

pub mod apkindex;
pub mod archive;
pub mod package;
pub mod pkginfo;
pub mod signed;
