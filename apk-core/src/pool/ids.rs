//! Dense ids of the pool's tables, each its own type so that a name's id never passes
//! where a package's is expected (the pattern of resolvo's `internal/id.rs`). An id is
//! an index into its table; [`index`](PkgId::index) gives it back as one.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        // Plain data: a snapshot's tables of ids are read in place (any value is a
        // valid id of the type; the pool checks that each is inside its table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[derive(zerocopy::FromBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// The id of the `i`-th entry of its table (tables never outgrow the type:
            /// the pool refuses to).
            pub const fn new(i: usize) -> Self {
                Self(i as $inner)
            }

            /// The ids of a table of `len` entries, in order.
            pub fn all(len: usize) -> impl DoubleEndedIterator<Item = Self> + ExactSizeIterator {
                (0..len).map(Self::new)
            }

            /// The position in its table.
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// A package name (also a name only provided, or only asked for).
    NameId(u32)
);
id_type!(
    /// A package: one name at one version from one origin identity.
    PkgId(u32)
);
id_type!(
    /// A repository; 0 is the cache pseudo-repository ([`RepoId::CACHED`]).
    RepoId(u32)
);
id_type!(
    /// A repository tag (`@edge`); 0 is the default, untagged one ([`TagId::DEFAULT`]).
    TagId(u16)
);

impl RepoId {
    /// The cache pseudo-repository.
    pub const CACHED: RepoId = RepoId(0);
    /// The first configured repository.
    pub const FIRST: RepoId = RepoId(1);

    /// This repository's bit in a package's `repos` mask (none past 64 repositories).
    pub const fn bit(self) -> u64 {
        if self.0 < 64 {
            1 << self.0
        } else {
            0
        }
    }
}

impl TagId {
    /// The default (untagged) tag.
    pub const DEFAULT: TagId = TagId(0);

    /// This tag's bit in a pinning mask (none past 32 tags).
    pub const fn bit(self) -> u32 {
        if self.0 < 32 {
            1 << self.0
        } else {
            0
        }
    }
}
