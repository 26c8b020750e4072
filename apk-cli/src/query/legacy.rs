//! What the read-only applets with their own layout (`search`, `info`, `list`, `dot`,
//! `policy`, `fetch`) share: the query options they honour, the filters, name matching
//! and apk-tools 3's order (by name, then version).

use apk_core::pool::{PkgId, Pool};

use crate::query::{QueryFilters, QueryOpts, QueryRecursion, Spec};

/// The query options of an applet that prints its own layout: the spec (the filters
/// and `--from` honoured; `--fields`, `--format`, `--summarize` have no effect there,
/// as in apk-tools), or the refusal of what this build does not do for it.
pub(crate) fn legacy_spec(
    applet: &str,
    q: &QueryOpts,
    filters: QueryFilters,
    recursion: QueryRecursion,
) -> Result<Spec, u32> {
    // `list` and `dot` answer --recursive/--world as apk-tools does (what the request
    // solves to); `info` and `policy` do not take them here.
    let recursion_refused = !matches!(applet, "list" | "dot");
    let spec = q.spec(filters, recursion).map_err(|e| {
        eprintln!("ERROR: {e}");
        1u32
    })?;
    let unsupported = q.unsupported_matching().or((recursion_refused
        && (recursion.recursive || recursion.world))
        .then_some("--recursive/--world"));
    if let Some(opt) = unsupported {
        eprintln!("ERROR: {opt} is not supported by apk {applet} in this build of apk-rs");
        return Err(1);
    }
    Ok(spec)
}

/// Whether `pkg` passes the spec's filters (`--installed`, `--available`,
/// `--upgradable`, `--orphaned`).
pub(crate) fn passes_filters(pool: &Pool, spec: &Spec, pkg: PkgId) -> bool {
    let p = pool.pkg(pkg);
    if spec.installed && p.installed().is_none() {
        return false;
    }
    if spec.available && !pool.pkg_available(pkg) {
        return false;
    }
    if spec.upgradable && !crate::query::engine::upgradable(pool, pkg) {
        return false;
    }
    if spec.orphaned {
        let repo_mask = !apk_core::pool::RepoId::CACHED.bit();
        let in_repo = pool
            .providers(p.name)
            .iter()
            .any(|pr| pool.pkg(pr.pkg).repos & repo_mask != 0);
        if in_repo {
            return false;
        }
    }
    true
}

/// Shell-style wildcard match (`*`, `?`) without regard to case, as apk-tools matches
/// names (`fnmatch` with `FNM_CASEFOLD`); linear in the text for each `*`. A pattern
/// without wildcards is compared exactly.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    if pattern.contains(['*', '?']) {
        crate::query::engine::wildcard_match(pattern, text)
    } else {
        pattern == text
    }
}

/// Packages ordered as apk lists them: by name, then by version.
pub(crate) fn sort_pkgs(pool: &Pool, pkgs: &mut Vec<PkgId>) {
    pkgs.sort_by(|&a, &b| {
        let (pa, pb) = (pool.pkg(a), pool.pkg(b));
        pool.name(pa.name)
            .cmp(pool.name(pb.name))
            .then_with(|| apk_format::version::compare(pool.pkg_version(pa), pool.pkg_version(pb)))
    });
    pkgs.dedup();
}
