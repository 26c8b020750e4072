//! apk-tools 3's query engine: which packages match (by name, provided name, any
//! matchable field, wildcard, with filters), and what is said of each (fields, in the
//! default layout, JSON or YAML). Used by `apk query` and, through their shared query
//! options (`--fields`, `--format`, `--from`, `--match`, ...), by `info`, `list`,
//! `search`, `policy`, `dot` and `fetch`.

pub mod engine;
pub mod legacy;

use crate::output::serialize::Format;

/// The fields of a package (and of a query match), in apk-tools' order: the order
/// they are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Field {
    Query,
    Error,
    PathTarget,
    Owner,
    Package,
    Name,
    Version,
    Hash,
    Description,
    Arch,
    License,
    Origin,
    Maintainer,
    Url,
    Commit,
    BuildTime,
    InstalledSize,
    FileSize,
    ProviderPriority,
    Depends,
    Provides,
    Replaces,
    InstallIf,
    Recommends,
    Layer,
    Tags,
    Contents,
    Triggers,
    Scripts,
    ReplacesPriority,
    Status,
    Repositories,
    DownloadUrl,
    RevDepends,
    RevInstallIf,
}

/// Every field with its key and its printed name.
const FIELDS: &[(Field, &str, &str)] = &[
    (Field::Query, "query", "Query"),
    (Field::Error, "error", "Error"),
    (Field::PathTarget, "path-target", "Path-Target"),
    (Field::Owner, "owner", "Owner"),
    (Field::Package, "package", "Package"),
    (Field::Name, "name", "Name"),
    (Field::Version, "version", "Version"),
    (Field::Hash, "hash", "Hash"),
    (Field::Description, "description", "Description"),
    (Field::Arch, "arch", "Arch"),
    (Field::License, "license", "License"),
    (Field::Origin, "origin", "Origin"),
    (Field::Maintainer, "maintainer", "Maintainer"),
    (Field::Url, "url", "URL"),
    (Field::Commit, "commit", "Commit"),
    (Field::BuildTime, "build-time", "Build-Time"),
    (Field::InstalledSize, "installed-size", "Installed-Size"),
    (Field::FileSize, "file-size", "File-Size"),
    (
        Field::ProviderPriority,
        "provider-priority",
        "Provider-Priority",
    ),
    (Field::Depends, "depends", "Depends"),
    (Field::Provides, "provides", "Provides"),
    (Field::Replaces, "replaces", "Replaces"),
    (Field::InstallIf, "install-if", "Install-If"),
    (Field::Recommends, "recommends", "Recommends"),
    (Field::Layer, "layer", "Layer"),
    (Field::Tags, "tags", "Tags"),
    (Field::Contents, "contents", "Contents"),
    (Field::Triggers, "triggers", "Triggers"),
    (Field::Scripts, "scripts", "Scripts"),
    (
        Field::ReplacesPriority,
        "replaces-priority",
        "Replaces-Priority",
    ),
    (Field::Status, "status", "Status"),
    (Field::Repositories, "repositories", "Repositories"),
    (Field::DownloadUrl, "download-url", "Download-URL"),
    (Field::RevDepends, "reverse-depends", "Reverse-Depends"),
    (
        Field::RevInstallIf,
        "reverse-install-if",
        "Reverse-Install-If",
    ),
];

impl Field {
    pub fn key(self) -> &'static str {
        FIELDS[self as usize].1
    }

    pub fn by_key(key: &str) -> Option<Field> {
        FIELDS.iter().find(|f| f.1 == key).map(|f| f.0)
    }

    fn bit(self) -> u64 {
        1 << self as u8
    }
}

/// The default layout's name of a key.
pub fn printable(key: &str) -> &str {
    FIELDS.iter().find(|f| f.1 == key).map_or(key, |f| f.2)
}

/// The default layout puts contents and repositories one per line.
pub fn multiline_key(key: &str) -> bool {
    key == "contents" || key == "repositories"
}

/// The writer style of the query applets.
pub const STYLE: crate::output::serialize::KeyStyle = crate::output::serialize::KeyStyle {
    printable,
    multiline: multiline_key,
};

/// A set of fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields(pub u64);

impl Fields {
    pub const ALL: Fields = Fields((1 << (Field::RevInstallIf as u8 + 1)) - 1);

    pub fn of(fields: &[Field]) -> Fields {
        Fields(fields.iter().fold(0, |m, f| m | f.bit()))
    }

    pub fn has(self, f: Field) -> bool {
        self.0 & f.bit() != 0
    }

    pub fn with(self, f: Field) -> Fields {
        Fields(self.0 | f.bit())
    }

    pub fn without(self, f: Field) -> Fields {
        Fields(self.0 & !f.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// The fields a match can look at.
    pub fn matchable() -> Fields {
        use Field::*;
        Fields::of(&[
            Package,
            Name,
            Version,
            Description,
            Arch,
            License,
            Origin,
            Maintainer,
            Url,
            Provides,
            Depends,
            InstallIf,
            Recommends,
            Replaces,
            Tags,
            Contents,
            Owner,
        ])
    }

    /// What `query` says of a package by default.
    pub fn default_pkg() -> Fields {
        use Field::*;
        Fields::of(&[
            Query,
            Error,
            Name,
            Version,
            Description,
            Arch,
            License,
            Origin,
            Url,
            Tags,
            FileSize,
        ])
    }

    /// Fields only installed packages have.
    pub fn only_installed() -> Fields {
        use Field::*;
        Fields::of(&[
            Replaces,
            Contents,
            Triggers,
            Scripts,
            ReplacesPriority,
            Status,
        ])
    }

    /// The fields `--summarize` may name.
    fn summarizable() -> Fields {
        use Field::*;
        Fields::of(&[
            Package,
            Name,
            Origin,
            Depends,
            Provides,
            Replaces,
            InstallIf,
            Recommends,
            RevDepends,
            RevInstallIf,
        ])
    }

    /// `name,version,...` or `all`, each allowed; `None` when one is not.
    pub fn parse(list: &str, allowed: Fields) -> Option<Fields> {
        if list == "all" {
            return Some(Fields::ALL);
        }
        let mut set = Fields::default();
        for word in list.split(',').filter(|w| !w.is_empty()) {
            let f = Field::by_key(word)?;
            if !allowed.has(f) {
                return None;
            }
            set = set.with(f);
        }
        (!set.is_empty()).then_some(set)
    }
}

/// `--from`: which sources of packages the database is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum From {
    /// Repositories and the installed database (the default).
    #[default]
    System,
    /// Only the repositories (no installed database, no cached packages).
    Repositories,
    /// Only the installed database (and `-X` repositories).
    Installed,
    /// Nothing but `-X` repositories.
    None,
}

/// The query options apk-tools gives `query`, `info`, `list`, `search`, `policy`,
/// `dot` and `fetch` (the filters and `-R`/`--world` are [`QueryFilters`] and
/// [`QueryRecursion`], since some applets have options of those names of their own).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct QueryOpts {
    /// Report every match, not only the best one of each query
    #[arg(long)]
    pub all_matches: bool,
    /// Fields to print (comma separated, or all); FIELD:REVFIELD names reverse ones by REVFIELD
    #[arg(short = 'F', long, value_name = "FIELDS")]
    pub fields: Option<String>,
    /// Output format: default, json, yaml
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Where packages come from: none, repositories, installed, system
    #[arg(long, value_name = "FROM")]
    pub from: Option<String>,
    /// Fields the query is matched against (comma separated)
    #[arg(long = "match", value_name = "FIELDS")]
    pub match_fields: Option<String>,
    /// Queries are substrings, matched with wildcards around them
    #[arg(long)]
    pub search: bool,
    /// Print only the values of one field, each once (FIELD or FIELD:REVFIELD)
    #[arg(long, value_name = "FIELD")]
    pub summarize: Option<String>,
}

/// The query filters.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct QueryFilters {
    /// Only installed packages (implies --from installed)
    #[arg(long)]
    pub installed: bool,
    /// Only packages available from repositories
    #[arg(long)]
    pub available: bool,
    /// Only packages an upgrade would replace
    #[arg(long)]
    pub upgradable: bool,
    /// Only installed packages no repository has
    #[arg(long)]
    pub orphaned: bool,
}

/// `-R`/`--recursive` and `--world`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct QueryRecursion {
    /// The packages the queries need, recursively (solved as if installed)
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Include the world in a recursive query
    #[arg(long)]
    pub world: bool,
}

/// The query as parsed from [`QueryOpts`] and adjusted by the applet.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub recursive: bool,
    pub world: bool,
    pub search: bool,
    pub empty_matches_all: bool,
    pub summarize: bool,
    pub all_matches: bool,
    pub available: bool,
    pub installed: bool,
    pub orphaned: bool,
    pub upgradable: bool,
    /// Reverse dependencies only among installed packages.
    pub revdeps_installed: bool,
    /// How a reverse dependency is named: `name`, `package` or `origin`.
    pub revdeps_field: Option<Field>,
    pub match_fields: Fields,
    pub fields: Fields,
    pub format: Format,
    pub from: From,
    /// `fetch -R`: a virtual name given may be satisfied by one of its providers.
    pub auto_select_virtual: bool,
}

/// `field` or `field:revfield` (revfield: name, package or origin).
fn fields_and_revfield(s: &str, allowed: Fields) -> Option<(Fields, Option<Field>)> {
    let (list, rev) = match s.split_once(':') {
        Some((l, r)) => {
            let f = Field::by_key(r)?;
            if !matches!(f, Field::Name | Field::Package | Field::Origin) {
                return None;
            }
            (l, Some(f))
        }
        None => (s, None),
    };
    Some((Fields::parse(list, allowed)?, rev))
}

impl QueryOpts {
    /// The spec these options ask for; `Err` names the option apk-tools refuses.
    pub fn spec(&self, filters: QueryFilters, recursion: QueryRecursion) -> Result<Spec, String> {
        let bad = |opt: &str, v: &str| {
            format!("command line: invalid argument for option '{opt}': '{v}'")
        };
        let mut s = Spec {
            all_matches: self.all_matches,
            available: filters.available,
            installed: filters.installed,
            orphaned: filters.orphaned,
            upgradable: filters.upgradable,
            recursive: recursion.recursive || recursion.world,
            world: recursion.world,
            search: self.search,
            ..Spec::default()
        };
        if filters.installed {
            s.from = From::Installed;
        }
        if let Some(f) = &self.from {
            s.from = match f.as_str() {
                "none" => From::None,
                "repositories" => From::Repositories,
                "installed" => From::Installed,
                "system" => From::System,
                _ => return Err(bad("from", f)),
            };
        }
        if let Some(f) = &self.fields {
            let (fields, rev) =
                fields_and_revfield(f, Fields::ALL).ok_or_else(|| bad("fields", f))?;
            s.fields = fields;
            s.revdeps_field = rev.or(s.revdeps_field);
        }
        if let Some(f) = &self.format {
            s.format = Format::parse(f).ok_or_else(|| bad("format", f))?;
        }
        if let Some(m) = &self.match_fields {
            s.match_fields =
                Fields::parse(m, Fields::matchable()).ok_or_else(|| bad("match", m))?;
        }
        if let Some(f) = &self.summarize {
            let (fields, rev) = fields_and_revfield(f, Fields::summarizable())
                .ok_or_else(|| bad("summarize", f))?;
            if fields.count() != 1 {
                return Err(bad("summarize", f));
            }
            s.summarize = true;
            s.fields = fields;
            s.revdeps_field = rev.or(s.revdeps_field);
        }
        Ok(s)
    }

    /// For applets that print their own layout and match by their own rules: the
    /// options of the engine they do not honour here, named for a clear refusal.
    pub fn unsupported_matching(&self) -> Option<&'static str> {
        if self.match_fields.is_some() {
            Some("--match")
        } else if self.all_matches {
            Some("--all-matches")
        } else if self.search {
            Some("--search")
        } else {
            None
        }
    }
}
