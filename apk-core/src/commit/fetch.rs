//! Reading the packages a commit installs: from the cache, else the first repository
//! that has them, each checked against its identity and signature before anything of
//! it is used. A second thread reads them and hands the writer their contents in
//! pieces over a short channel (`PIPELINE` pieces of at most `PIECE` bytes, or
//! `PIPELINE_IN_SCRIPT` while the writer waits for a script), so that what is in flight
//! stays within a few megabytes however big the packages are: a package file is
//! streamed, never held whole, unless it was downloaded (it goes into the cache as it
//! came).

use std::io::{BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use super::*;
use apk_format::v2::package::{Content, FileDigests, INFLATE_WHOLE_UP_TO};

/// How many pieces may wait between the reading thread and the writer: half a
/// megabyte, about two of the bench's small packages. Four pieces switched threads
/// four times as often as whole packages did (perf stat: 1,386 context switches for
/// the 200-package install, 356 before); sixteen or 256 KiB batches measured no
/// faster in interleaved runs on this noisy machine.
pub(super) const PIPELINE: usize = 8;

/// How many may wait while the writer waits for a package's script: the reading
/// thread goes on inflating the next packages instead of idling beside it (busybox's
/// post-install, `busybox --install -s`, is a fifth of `--initdb add alpine-base`).
/// Interleaved runs of that install, 31 each: 83.0 ms with 8, 79.5 ms with 24
/// (peak 7,060 -> 7,296 KB), 76.5 ms with 40 (7,896 KB, apk-tools' 8,056); in the
/// side-by-side harness (15 runs) 0.76 of apk-tools' time with 24 (6.8 against 7.8
/// MiB), 0.72 and 0.75 with 32 (7.2 against 7.9 and 7.8 MiB).
pub(super) const PIPELINE_IN_SCRIPT: usize = 32;

/// The pieces in flight between the reading thread and the writer, and how many may
/// be.
struct Flow {
    in_flight: usize,
    bound: usize,
    /// The writer is gone.
    closed: bool,
}

/// What the two ends share: the reader waits here for room, the writer makes it.
#[derive(Default)]
struct Gate {
    flow: Mutex<Flow>,
    room: Condvar,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            in_flight: 0,
            bound: PIPELINE,
            closed: false,
        }
    }
}

impl Gate {
    fn flow(&self) -> std::sync::MutexGuard<'_, Flow> {
        // Neither side panics holding the lock (the release build aborts on panic).
        self.flow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The reader takes a place for one more piece, waiting until there is one.
    fn enter(&self) -> Sent {
        let mut f = self.flow();
        while f.in_flight >= f.bound && !f.closed {
            f = self
                .room
                .wait(f)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if f.closed {
            return Err(Gone);
        }
        f.in_flight += 1;
        Ok(())
    }

    /// The writer took a piece.
    fn leave(&self) {
        let mut f = self.flow();
        f.in_flight = f.in_flight.saturating_sub(1);
        let wake = f.in_flight + 1 >= f.bound;
        drop(f);
        if wake {
            self.room.notify_one();
        }
    }

    fn set_bound(&self, bound: usize) {
        self.flow().bound = bound;
        self.room.notify_one();
    }

    fn close(&self) {
        self.flow().closed = true;
        self.room.notify_one();
    }
}

/// The reading thread's end of the pipeline.
pub(super) struct Feed {
    tx: SyncSender<Piece>,
    gate: Arc<Gate>,
}

impl Feed {
    fn send(&self, p: Piece) -> Sent {
        self.gate.enter()?;
        self.tx.send(p).map_err(|_| Gone)
    }
}

/// The writer's end of the pipeline.
pub(super) struct Pipe {
    rx: Receiver<Piece>,
    gate: Arc<Gate>,
}

impl Pipe {
    pub(super) fn recv(&self) -> std::result::Result<Piece, std::sync::mpsc::RecvError> {
        let p = self.rx.recv()?;
        self.gate.leave();
        Ok(p)
    }

    /// Lets the reader run further ahead while the writer waits for a script (`true`),
    /// or back to the usual bound.
    pub(super) fn in_script(&self, yes: bool) {
        self.gate
            .set_bound(if yes { PIPELINE_IN_SCRIPT } else { PIPELINE });
    }
}

/// A writer that stops listening releases a reader waiting for room, and its sends
/// fail from then on.
impl Drop for Pipe {
    fn drop(&mut self) {
        self.gate.close();
    }
}

/// The two ends of a new pipeline.
pub(super) fn pipeline() -> (Feed, Pipe) {
    let (tx, rx) = std::sync::mpsc::sync_channel(PIPELINE_IN_SCRIPT);
    let gate = Arc::new(Gate::default());
    (
        Feed {
            tx,
            gate: Arc::clone(&gate),
        },
        Pipe { rx, gate },
    )
}

/// Files of an installed package are not hashed one by one where its signed datahash
/// covers the data stream, as apk-tools installs them: their digests are recorded as
/// the entries carry them. This was a sixth of the reading thread's work (SHA-1 of
/// every file), the thread an install waits for.
const DIGESTS: FileDigests = FileDigests::CoveredByDatahash;

/// The most contents one piece carries: small files travel in batches up to this,
/// bigger ones in chunks of it; also the read buffer of a package file.
pub(super) const PIECE: usize = 64 << 10;

/// A package whose file is never read: only its record lands. apk-tools reads no file
/// for a package installing nothing (installed size 0: virtual packages of `add -t`,
/// empty meta packages), so it runs none of its scripts either.
pub(super) fn is_virtual(pool: &Pool, id: PkgId) -> bool {
    let pkg = pool.pkg(id);
    pool.installed_size(id) == 0
        || (pkg.repos == RepoId::CACHED.bit() && pool.checksum(id).is_none())
}

/// True for the changes that install a package file.
pub(super) fn needs_file(pool: &Pool, c: &Change) -> bool {
    match (c.old, c.new) {
        (Some(o), Some(n)) if o == n && !c.reinstall => false,
        // "[APK unavailable, skipped] Reinstalling": nothing to read it from.
        (Some(o), Some(n)) if o == n && !pool.pkg_obtainable(n) => false,
        (_, Some(n)) => !is_virtual(pool, n),
        _ => false,
    }
}

/// What the reading thread hands the writer, package after package: a `Head`, then
/// (when it is `Ok`) the data's entries and an `End`.
pub(super) enum Piece {
    /// A package read up to its data, its signature and identity checked; or why it
    /// could not be.
    Head(PkgId, std::result::Result<Box<Package>, String>),
    /// Entries with their whole contents, checked.
    Entries(Vec<(EntryHeader, Vec<u8>)>),
    /// A file too big for one piece: its contents follow in `Chunk`s up to a
    /// `FileEnd`, and are checked once all read (the `End` tells).
    File(EntryHeader),
    Chunk(Vec<u8>),
    FileEnd,
    /// The data read to its end and everything checked (the file's bytes come along
    /// when it belongs in the cache), or why not.
    End(std::result::Result<Option<Vec<u8>>, String>),
}

/// Reads the packages of `jobs` in order into `tx`; stops when the writer is gone.
pub(super) fn read_packages(jobs: Vec<FetchJob>, opts: &Options, tx: Feed) {
    // A small data stream is read into this buffer, reused from package to package.
    let mut stream = Vec::new();
    for job in jobs {
        if read_package(&job, opts, &tx, &mut stream).is_err() {
            return;
        }
    }
}

/// The writer stopped listening.
struct Gone;

type Sent = std::result::Result<(), Gone>;

fn read_package(job: &FetchJob, opts: &Options, tx: &Feed, stream: &mut Vec<u8>) -> Sent {
    let send = |p: Piece| tx.send(p);
    let nv = &job.nv;
    let source = match job.open(&opts.fetcher) {
        Ok(s) => s,
        Err(e) => return send(Piece::Head(job.id, Err(e.to_string()))),
    };
    let mut pieces = Pieces {
        tx,
        batch: Vec::new(),
        batch_bytes: 0,
    };
    match source {
        Source::File(file, size) => {
            let mut r = std::io::BufReader::with_capacity(PIECE, file);
            let gzip = r.fill_buf().is_ok_and(|b| b.starts_with(&[0x1f, 0x8b]));
            if !gzip {
                // Not a v2 package: read whole (v3's container is not a stream).
                let mut bytes = Vec::new();
                if let Err(e) = r.read_to_end(&mut bytes) {
                    let e = Error::io(nv, e);
                    return send(Piece::Head(job.id, Err(e.reason())));
                }
                return read_whole(job, opts, bytes, false, &mut pieces);
            }
            let head = read_head(job, opts, &mut r, size);
            let package = match head {
                Ok(p) => p,
                Err(e) => return send(Piece::Head(job.id, Err(e))),
            };
            let Package::V2(v2) = &package else {
                return send(Piece::Head(job.id, Err("not a v2 package".into())));
            };
            let v2 = v2.clone();
            send(Piece::Head(job.id, Ok(Box::new(package))))?;
            // A small data stream is read whole, to be inflated in one call (several
            // times faster than streaming; at most a megabyte held).
            let stream_size = size.saturating_sub(v2.data_start as u64);
            let small = stream_size <= INFLATE_WHOLE_UP_TO
                && v2
                    .info
                    .installed_size
                    .is_some_and(|n| n <= INFLATE_WHOLE_UP_TO);
            let walked = if small {
                stream.clear();
                stream.reserve(stream_size as usize);
                match r.read_to_end(stream) {
                    Ok(_) => v2.walk_data_stream(stream, nv, PIECE as u64, DIGESTS, |h, c| {
                        pieces.entry(h, c)
                    }),
                    Err(e) => Err(Error::io(nv, e)),
                }
            } else {
                v2.walk_data_from(r, nv, PIECE as u64, DIGESTS, |h, c| pieces.entry(h, c))
            };
            pieces.end(walked.map(|_| None))
        }
        Source::Download(bytes) => read_whole(job, opts, bytes, true, &mut pieces),
    }
}

/// Reads a package file's signature and control stream, and checks them.
fn read_head<R: BufRead>(
    job: &FetchJob,
    opts: &Options,
    r: &mut R,
    size: u64,
) -> std::result::Result<Package, String> {
    let nv = &job.nv;
    let (package, control) =
        apk_format::v2::package::Package::read_head(r, size, nv).map_err(|e| e.reason())?;
    let package = Package::V2(package);
    if !by_identity(job, &package)? {
        if let (Some(keys), Package::V2(p)) = (&opts.keys, &package) {
            p.verify_control_signature(&control, keys, nv)
                .map_err(|e| e.reason())?;
        }
    }
    if r.fill_buf()
        .map_err(|e| Error::io(nv, e).reason())?
        .is_empty()
    {
        return Err("not a package (no data stream)".into());
    }
    Ok(package)
}

/// Whether a package is checked by the identity its index (or the check of a
/// command-line file) gives instead of by its signatures, as apk-tools checks it: a v2
/// package whenever there is one, and then its control member's digest must be that
/// identity (the control's datahash binds the data stream to it); a v3 package when
/// the identity is its SHA-256 and matches (apk-tools takes a shorter one for a unique
/// id and checks the signature). So packages signed by a key the root does not trust
/// install from a trusted index, and no RSA signature is checked per package.
fn by_identity(job: &FetchJob, package: &Package) -> std::result::Result<bool, String> {
    let Some(want) = &job.checksum else {
        return Ok(false);
    };
    match package {
        Package::V2(p) => {
            let covered = matches!(p.pkginfo.datahash(), Some(Ok(_)));
            if p.info.checksum.as_ref() != Some(want) || !covered {
                return Err(package.integrity_error().into());
            }
            Ok(true)
        }
        Package::V3(_) => Ok(matches!(want, Checksum::Sha256(_)) && package.has_identity(want)),
    }
}

/// The package must be the one the index describes.
fn check_identity(job: &FetchJob, package: &Package) -> std::result::Result<(), String> {
    if let Some(want) = job.checksum {
        if package.info().checksum.is_some() && !package.has_identity(&want) {
            return Err(package.integrity_error().into());
        }
    }
    Ok(())
}

/// A package held whole (downloaded, or v3): parsed, checked, and its entries sent.
fn read_whole(
    job: &FetchJob,
    opts: &Options,
    bytes: Vec<u8>,
    for_cache: bool,
    pieces: &mut Pieces<'_>,
) -> Sent {
    let nv = &job.nv;
    let head = (|| {
        let package = Package::parse(&bytes, nv).map_err(|e| e.reason())?;
        if !by_identity(job, &package)? {
            if let Some(keys) = &opts.keys {
                package
                    .verify_signature(&bytes, keys, nv)
                    .map_err(|e| e.reason())?;
            }
            check_identity(job, &package)?;
        }
        Ok(package)
    })();
    let package = match head {
        Ok(p) => p,
        Err(e) => return pieces.send(Piece::Head(job.id, Err(e))),
    };
    pieces.send(Piece::Head(job.id, Ok(Box::new(package.clone()))))?;
    let walked =
        package.walk_data_streaming(&bytes, nv, PIECE as u64, DIGESTS, |h, c| pieces.entry(h, c));
    pieces.end(walked.map(|_| for_cache.then_some(bytes)))
}

/// Packs a package's entries into pieces.
struct Pieces<'a> {
    tx: &'a Feed,
    batch: Vec<(EntryHeader, Vec<u8>)>,
    batch_bytes: usize,
}

impl Pieces<'_> {
    fn send(&self, p: Piece) -> Sent {
        self.tx.send(p)
    }

    fn flush(&mut self) -> Sent {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        self.send(Piece::Entries(batch))
    }

    /// The visitor of the data walk.
    fn entry(&mut self, h: &EntryHeader, content: Content<'_>) -> apk_format::error::Result<()> {
        let gone = || Error::format("package", "the writer stopped");
        match content {
            Content::Bytes(b) => {
                // A header's worth besides the contents.
                self.batch_bytes += b.len() + 512;
                self.batch.push((h.clone(), b.to_vec()));
                if self.batch_bytes >= PIECE {
                    self.flush().map_err(|_| gone())?;
                }
            }
            Content::Stream(r) => {
                self.flush().map_err(|_| gone())?;
                self.send(Piece::File(h.clone())).map_err(|_| gone())?;
                loop {
                    let mut chunk = Vec::with_capacity(PIECE);
                    r.take(PIECE as u64)
                        .read_to_end(&mut chunk)
                        .map_err(|e| Error::read_failed(h.path.as_str(), "", &e))?;
                    if chunk.is_empty() {
                        break;
                    }
                    self.send(Piece::Chunk(chunk)).map_err(|_| gone())?;
                }
                self.send(Piece::FileEnd).map_err(|_| gone())?;
            }
        }
        Ok(())
    }

    /// Sends what is left and how the package ended.
    fn end(&mut self, walked: apk_format::error::Result<Option<Vec<u8>>>) -> Sent {
        self.flush()?;
        self.send(Piece::End(walked.map_err(|e| e.reason())))
    }
}

/// The writer's side of a big file's `Chunk`s: reads them up to the `FileEnd`.
pub(super) struct Chunks<'a> {
    rx: &'a Pipe,
    chunk: Vec<u8>,
    at: usize,
    /// Its `FileEnd` came.
    done: bool,
    /// The package's `End` came instead (its reading failed mid-file), or the channel
    /// closed.
    ended: Option<std::result::Result<Option<Vec<u8>>, String>>,
}

impl<'a> Chunks<'a> {
    pub(super) fn new(rx: &'a Pipe) -> Self {
        Chunks {
            rx,
            chunk: Vec::new(),
            at: 0,
            done: false,
            ended: None,
        }
    }

    /// Takes the next chunk; false at the file's end.
    fn next_chunk(&mut self) -> bool {
        if self.done || self.ended.is_some() {
            return false;
        }
        match self.rx.recv() {
            Ok(Piece::Chunk(c)) => {
                self.chunk = c;
                self.at = 0;
                true
            }
            Ok(Piece::FileEnd) => {
                self.done = true;
                false
            }
            Ok(Piece::End(result)) => {
                self.ended = Some(result);
                false
            }
            Ok(_) => {
                self.ended = Some(Err("internal error: package pieces out of order".into()));
                false
            }
            Err(_) => {
                self.ended = Some(Err("internal error: the package reader stopped".into()));
                false
            }
        }
    }

    /// The package's end came while the writer read the file.
    pub(super) fn broke(&self) -> bool {
        self.ended.is_some()
    }

    /// Skips what the writer left unread; the package's end when it came early.
    pub(super) fn finish(mut self) -> Option<std::result::Result<Option<Vec<u8>>, String>> {
        while self.next_chunk() {}
        self.ended
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let chunk = self.fill_buf()?;
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The pieces as they came (up to `PIECE` bytes each): a file is written a piece per
/// `write`, not through an 8 KiB copy buffer (`alpine-base`: 862 writes of 8 KiB).
impl BufRead for Chunks<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.chunk.len() {
            if !self.next_chunk() {
                return match &self.ended {
                    Some(_) => Err(std::io::Error::other("the package stream failed")),
                    None => Ok(&[]),
                };
            }
        }
        Ok(&self.chunk[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.chunk.len());
    }
}

/// Where a package file is read from.
pub(super) enum Source {
    /// A local file (a repository on disk, the cache) with its size: streamed.
    File(fs::File, u64),
    /// A file read whole (downloaded, or named on the command line): it goes into
    /// the cache once installed.
    Download(Vec<u8>),
}

/// A package's file name in the cache: `name-version.<hash>.apk`, the hash from its
/// identity; `None` for packages without one.
pub fn cache_file_name(pool: &Pool, id: PkgId) -> Option<String> {
    pool.cache_file_name(id)
}

/// Where repository `repo` (an index into `pool.repos`) keeps `id`'s file: by the
/// index's `pkgname-spec`, else apk-tools' default; `${arch}` is the package's own
/// architecture (`default_arch` for a package without one).
pub fn package_url(
    pool: &Pool,
    repo: usize,
    id: PkgId,
    default_arch: &str,
) -> std::result::Result<String, apk_format::pkgname::SpecError> {
    let r = &pool.repos[repo];
    let pkg = pool.pkg(id);
    let info = pool.info(id);
    let checksum = pool.checksum(id);
    let vars = apk_format::pkgname::PkgVars {
        name: pool.name(pkg.name),
        version: pool.pkg_version(pkg),
        arch: info.arch.as_deref().unwrap_or(default_arch),
        hash: checksum.as_ref().map_or(&[][..], |c| c.bytes()),
    };
    Repository::from_url(&r.url, None).package_url(r.pkgname_spec.as_deref(), &vars)
}

/// Where a package file can be read from, worked out from the pool (which stays on
/// the thread that owns it) for the thread that reads ahead.
pub(super) struct FetchJob {
    pub(super) id: PkgId,
    pub(super) nv: String,
    pub(super) checksum: Option<Checksum>,
    pub(super) cache_file: Option<PathBuf>,
    pub(super) urls: Vec<String>,
    /// A file named on the command line: cached as apk-tools caches it.
    pub(super) from_command_line: bool,
}

impl FetchJob {
    pub(super) fn new(pool: &Pool, id: PkgId, opts: &Options) -> FetchJob {
        let pkg = pool.pkg(id);
        let urls = pool
            .repos
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| {
                *i < 64 && pkg.repos & (1 << i) != 0 && pool.available_repos & (1 << i) != 0
            })
            .filter_map(|(i, _)| package_url(pool, i, id, &opts.arch).ok())
            .collect();
        let from_command_line = opts.local_files.contains_key(&id);
        let urls = match opts.local_files.get(&id) {
            Some(path) => vec![path.to_string_lossy().into_owned()],
            None => urls,
        };
        FetchJob {
            id,
            nv: pool.nv(id),
            checksum: pool.checksum(id),
            cache_file: opts
                .cache_dir
                .as_ref()
                .and_then(|d| Some(d.join(cache_file_name(pool, id)?))),
            urls,
            from_command_line,
        }
    }

    /// Opens the file: from the cache, else from the first repository that has it. A
    /// local file is streamed; one that belongs in the cache afterwards is read whole.
    pub(super) fn open(
        &self,
        fetcher: &crate::repo::fetch::Fetcher,
    ) -> std::result::Result<Source, FetchError> {
        let open = |path: &Path| -> std::result::Result<Source, Error> {
            let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
            Ok(Source::File(f, size))
        };
        if let Some(s) = self.cache_file.as_deref().and_then(|c| open(c).ok()) {
            return Ok(s);
        }
        let mut last_err = FetchError::NoRepository;
        for url in &self.urls {
            let local = crate::repo::Repository::local_path(url)
                .filter(|_| !url.starts_with("test:") && !self.from_command_line);
            let got = match local {
                Some(path) => open(Path::new(path)),
                None => fetcher
                    .get(url, crate::repo::fetch::PACKAGE_LIMIT)
                    .map(Source::Download),
            };
            match got {
                Ok(s) => return Ok(s),
                Err(e) => last_err = FetchError::Failed(e),
            }
        }
        Err(last_err)
    }

    /// Reads the file: from the cache, else from the first repository that has it.
    /// The flag tells whether it belongs in the cache, as apk-tools decides: it came
    /// from a remote repository (`test:` ones included) or the command line.
    pub(super) fn fetch(
        &self,
        fetcher: &crate::repo::fetch::Fetcher,
    ) -> std::result::Result<(Vec<u8>, bool), FetchError> {
        if let Some(b) = self.cache_file.as_ref().and_then(|c| fs::read(c).ok()) {
            return Ok((b, false));
        }
        let mut last_err = FetchError::NoRepository;
        for url in &self.urls {
            match fetcher.get(url, crate::repo::fetch::PACKAGE_LIMIT) {
                Ok(b) => {
                    let remote = crate::repo::fetch::is_network(url) || url.starts_with("test:");
                    return Ok((b, remote || self.from_command_line));
                }
                Err(e) => last_err = FetchError::Failed(e),
            }
        }
        Err(last_err)
    }
}

/// Why a package file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no repository has this package")]
    NoRepository,
    /// The last repository tried failed so.
    #[error("{0}")]
    Failed(Error),
}

/// Reads a package file: from the cache, else from the first usable repository that
/// has it. The flag tells whether it came over the network.
pub fn fetch_package(
    pool: &Pool,
    id: PkgId,
    opts: &Options,
) -> std::result::Result<(Vec<u8>, bool), FetchError> {
    FetchJob::new(pool, id, opts).fetch(&opts.fetcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// Waits (up to ten seconds) until `sent` reaches `n`, then a little longer, and
    /// returns what it is then: a reader let past its bound would have gone further.
    fn settles_at(sent: &AtomicUsize, n: usize) -> usize {
        let start = Instant::now();
        while sent.load(Ordering::SeqCst) < n && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(30));
        sent.load(Ordering::SeqCst)
    }

    #[test]
    fn the_reader_runs_further_ahead_only_while_a_script_runs_and_stops_when_the_writer_goes() {
        let (feed, pipe) = pipeline();
        let sent = AtomicUsize::new(0);
        let total = PIPELINE_IN_SCRIPT + 10;
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                for _ in 0..total {
                    if feed.send(Piece::FileEnd).is_err() {
                        return false;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                true
            });
            assert_eq!(settles_at(&sent, PIPELINE), PIPELINE);
            pipe.in_script(true);
            assert_eq!(settles_at(&sent, PIPELINE_IN_SCRIPT), PIPELINE_IN_SCRIPT);
            // Back to the usual bound: taking pieces makes no room until fewer than
            // it wait.
            pipe.in_script(false);
            for _ in 0..PIPELINE_IN_SCRIPT - PIPELINE {
                assert!(matches!(pipe.recv(), Ok(Piece::FileEnd)));
            }
            assert_eq!(settles_at(&sent, PIPELINE_IN_SCRIPT), PIPELINE_IN_SCRIPT);
            assert!(matches!(pipe.recv(), Ok(Piece::FileEnd)));
            assert_eq!(
                settles_at(&sent, PIPELINE_IN_SCRIPT + 1),
                PIPELINE_IN_SCRIPT + 1
            );
            // A writer that goes releases the waiting reader, whose send then fails.
            drop(pipe);
            assert!(!reader.join().expect("the reader thread"));
        });
        assert_eq!(sent.load(Ordering::SeqCst), PIPELINE_IN_SCRIPT + 1);
    }
}
