//! abuild-rs: builds Alpine packages from APKBUILDs, and signed repositories from
//! trees of them.
//!
//! - [`apkbuild`]: sourcing and checking an APKBUILD;
//! - [`build`]: one APKBUILD for one architecture, into `REPODEST/<repo>/<arch>/`;
//! - [`owners`]: owners of staged files (pkgusers, pkggroups, fakeroot);
//! - [`tracedeps`]: `so:`, `cmd:`, `pc:` names from the built files;
//! - [`repo`]: a tree of APKBUILDs, ordered and built in parallel;
//! - [`plan`]: the build graph as JSON or as a GitLab CI pipeline;
//! - [`lint`]: common APKBUILD mistakes, and `checksum` rewriting `sha512sums`;
//! - [`compat`]: abuild's own command line, verbs and configuration.

pub mod apkbuild;
pub mod build;
pub mod compat;
pub mod lint;
pub mod owners;
pub mod plan;
pub mod repo;
pub mod tracedeps;
