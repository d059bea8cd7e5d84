//! A checksum database and module proxy started by a test, standing in for sum.golang.org
//! and proxy.golang.org (tests never reach the internet): records signed with x/mod's test
//! key, built with goshelf's own log code but served by a plain `std` HTTP loop, every
//! request recorded, and switches that make it lie in the ways the shelf must catch.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use goshelf::sumdb::{self as log, Hash, Signer};

use super::ModZip;

/// x/mod's test signer key (sumdb/client_test.go), also cmd/go's test proxy's.
pub const SKEY: &str =
    "PRIVATE+KEY+localhost.localdev/sumdb+00000c67+AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk";
/// Its verifier key.
pub const VKEY: &str =
    "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6";

/// How the upstream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Honestly.
    None,
    /// Tree notes with a broken signature.
    BadSignature,
    /// A tree built from other records than the ones it served before (a fork).
    Fork,
    /// The signed note of a lookup carries a go.mod line of the looked-up version, which its
    /// logged record lacks (`publish_zip_line_only`): CVE-2026-56864, a client that reads
    /// hashes from the whole body takes it.
    LineInNote,
    /// Every request fails with 503.
    Down,
    /// Every answer comes after 1.5 s.
    Slow,
    /// Nothing is answered for 30 s (a hanging upstream).
    Hang,
}

#[derive(Default)]
struct Log {
    records: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
    index: HashMap<String, u64>,
}

impl Log {
    fn append(&mut self, key: String, text: Vec<u8>) {
        let n = self.records.len() as u64;
        let new = {
            let mut read = log::tlog::slice_reader(&self.hashes);
            log::stored_hashes(n, &text, &mut read).unwrap()
        };
        self.hashes.extend(new);
        self.records.push(text);
        self.index.insert(key, n);
    }

    fn tree(&self) -> log::Tree {
        self.tree_at(self.records.len() as u64)
    }

    /// The tree of its first `n` records.
    fn tree_at(&self, n: u64) -> log::Tree {
        let mut read = log::tlog::slice_reader(&self.hashes);
        log::Tree {
            n,
            hash: log::tree_hash(n, &mut read).unwrap(),
        }
    }
}

struct State {
    signer: Signer,
    log: Log,
    /// What a fork serves instead.
    fork: Log,
    files: HashMap<String, Vec<u8>>,
    lie: Lie,
    requests: Vec<String>,
    /// Zips are sent at this many bytes per second (in pieces of a tenth of it).
    zip_rate: Option<usize>,
    /// Tiles are answered after this long (an upstream across the internet).
    tile_delay: Option<std::time::Duration>,
    /// Lookups are signed with the tree of this many records (a stale cache in front), and
    /// partial tiles are not served (as sum.golang.org once a tile is full).
    stale_at: Option<u64>,
    no_partial_tiles: bool,
    /// Requests read and not yet answered, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// The running upstream; stops when dropped (its thread ends with the process).
pub struct Upstream {
    addr: String,
    state: Arc<Mutex<State>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            signer: Signer::parse(SKEY).unwrap(),
            log: Log::default(),
            fork: Log::default(),
            files: HashMap::new(),
            lie: Lie::None,
            requests: Vec::new(),
            zip_rate: None,
            tile_delay: None,
            stale_at: None,
            no_partial_tiles: false,
            in_flight: 0,
            max_in_flight: 0,
        }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(conn, &shared));
            }
        });
        Upstream { addr, state }
    }

    /// The checksum database's URL (the root of this server).
    pub fn sumdb_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The GOPROXY URL of its modules.
    pub fn proxy_url(&self) -> String {
        format!("http://{}/proxy", self.addr)
    }

    /// `upstream_sumdb` for the shelf.
    pub fn setting(&self) -> String {
        format!("{VKEY} {}", self.sumdb_url())
    }

    /// Publishes `zip` in the proxy and logs its record; returns (h1, go.mod h1).
    pub fn publish(&self, zip: &ModZip) -> (String, String) {
        let (path, version) = (zip.path(), zip.version());
        // A zip without go.mod (a `+incompatible` version) has the `.mod` the go command
        // synthesises.
        let go_mod = zip
            .content("go.mod")
            .map_or_else(|| format!("module {path}\n").into_bytes(), <[u8]>::to_vec);
        let h1 = zip.h1();
        let mod_h1 = goshelf::gomod::hash::hash_go_mod(&go_mod);
        let text = format!("{path} {version} {h1}\n{path} {version}/go.mod {mod_h1}\n");
        let esc = goshelf::gomod::path::escape_path(path).unwrap();
        let mut s = self.state.lock().unwrap();
        s.log
            .append(format!("{path}@{version}"), text.clone().into_bytes());
        // The fork holds the same records with this one's hash changed.
        let forged = text.replace(&h1, "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        s.fork
            .append(format!("{path}@{version}"), forged.into_bytes());
        let base = format!("/proxy/{esc}/@v/");
        let list = s.files.entry(format!("{base}list")).or_default();
        list.extend_from_slice(format!("{version}\n").as_bytes());
        s.files.insert(
            format!("{base}{version}.info"),
            format!("{{\"Version\":\"{version}\",\"Time\":\"2026-01-01T00:00:00Z\"}}").into_bytes(),
        );
        s.files.insert(format!("{base}{version}.mod"), go_mod);
        s.files.insert(format!("{base}{version}.zip"), zip.bytes());
        (h1, mod_h1)
    }

    /// Logs a record of `zip` with its zip line only (no go.mod line), as a lying database
    /// would; the proxy does not serve it.
    pub fn publish_zip_line_only(&self, zip: &ModZip) {
        let (path, version) = (zip.path(), zip.version());
        let text = format!("{path} {version} {}\n", zip.h1());
        let mut s = self.state.lock().unwrap();
        s.log
            .append(format!("{path}@{version}"), text.clone().into_bytes());
        s.fork
            .append(format!("{path}@{version}"), text.into_bytes());
    }

    /// Appends `n` records of modules nobody fetches (to move the tree on).
    pub fn grow(&self, n: usize, tag: &str) {
        let mut s = self.state.lock().unwrap();
        for i in 0..n {
            let text = format!(
                "filler.example/{tag}/{i} v1.0.0 h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nfiller.example/{tag}/{i} v1.0.0/go.mod h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
            );
            s.log.append(
                format!("filler.example/{tag}/{i}@v1.0.0"),
                text.clone().into_bytes(),
            );
            s.fork.append(
                format!("filler.example/{tag}/{i}@v1.0.0"),
                text.into_bytes(),
            );
        }
    }

    /// Serves `bytes` at proxy path `tail` (under `proxy_url()`), in place of what was there.
    pub fn set_file(&self, tail: &str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(format!("/proxy/{tail}"), bytes);
    }

    /// How many requests so far had a path containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.contains(needle))
            .count()
    }

    /// Sends every zip at `bytes_per_second` from now on.
    pub fn throttle_zips(&self, bytes_per_second: usize) {
        self.state.lock().unwrap().zip_rate = Some(bytes_per_second);
    }

    /// Answers every tile `delay` late from now on, as a checksum database across the
    /// internet does.
    pub fn delay_tiles(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().tile_delay = Some(delay);
    }

    /// Signs lookups with the tree of its first `n` records from now on (a stale cache in
    /// front of it), and serves no partial tile: the go command's client (and the shelf)
    /// then cut the full tile (x/mod `tileReader`).
    pub fn stale_lookups_without_partial_tiles(&self, n: u64) {
        let mut s = self.state.lock().unwrap();
        s.stale_at = Some(n);
        s.no_partial_tiles = true;
    }

    /// The most requests it was answering at once (from reading one to writing its
    /// answer).
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    pub fn lie(&self, lie: Lie) {
        self.state.lock().unwrap().lie = lie;
    }

    /// Every request path so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn serve(conn: TcpStream, shared: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
    {
        let mut s = shared.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    let (status, body) = answer(shared, &path);
    // Counted out before the answer is written: the client holds its turn until it has read
    // it, so what is counted here never exceeds what the client has at once.
    shared.lock().unwrap().in_flight -= 1;
    let mut conn = conn;
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let rate = shared.lock().unwrap().zip_rate;
    match rate.filter(|_| path.ends_with(".zip")) {
        Some(rate) => {
            let piece = (rate / 10).max(1);
            for chunk in body.chunks(piece) {
                if conn.write_all(chunk).is_err() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        None => {
            let _ = conn.write_all(&body);
        }
    }
}

fn answer(shared: &Mutex<State>, path: &str) -> (u16, Vec<u8>) {
    let (lie, tile_delay) = {
        let s = shared.lock().unwrap();
        (s.lie, s.tile_delay)
    };
    if let Some(delay) = tile_delay.filter(|_| path.contains("/tile/")) {
        std::thread::sleep(delay);
    }
    if lie == Lie::Slow {
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    if lie == Lie::Hang {
        shared.lock().unwrap().requests.push(path.to_owned());
        std::thread::sleep(std::time::Duration::from_secs(30));
        return (503, Vec::new());
    }
    let mut s = shared.lock().unwrap();
    s.requests.push(path.to_owned());
    if s.lie == Lie::Down {
        return (503, b"down\n".to_vec());
    }
    if let Some(f) = s.files.get(path) {
        return (200, f.clone());
    }
    let decoded = path.replace("%21", "!");
    let log = if s.lie == Lie::Fork { &s.fork } else { &s.log };
    if let Some(target) = decoded.strip_prefix("/lookup/") {
        let Some((p, v)) = target.rsplit_once('@') else {
            return (400, Vec::new());
        };
        let (p, v) = (
            goshelf::gomod::path::unescape_path(p).unwrap(),
            goshelf::gomod::path::unescape_version(v).unwrap(),
        );
        let Some(&id) = log.index.get(&format!("{}@{v}", p.as_str())) else {
            return (404, b"not found\n".to_vec());
        };
        let tree = match s.stale_at {
            Some(n) if id < n => log.tree_at(n),
            _ => log.tree(),
        };
        let record = log.records[id as usize].clone();
        let mut head = log::format_tree(&tree);
        if s.lie == Lie::LineInNote {
            head.push_str(&format!(
                "{} {v}/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
                p.as_str()
            ));
        }
        let mut note = log::sign(&head, &[&s.signer]).unwrap().into_bytes();
        if s.lie == Lie::BadSignature {
            let at = note.len() - 10;
            note[at] = if note[at] == b'A' { b'B' } else { b'A' };
        }
        let mut body = format!("{id}\n").into_bytes();
        body.extend_from_slice(&record);
        body.push(b'\n');
        body.extend_from_slice(&note);
        return (200, body);
    }
    if let Some(tile) = path.strip_prefix('/') {
        if let Ok(t) = log::parse_tile_path(tile) {
            if !log::tile_exists(&t, log.records.len() as u64)
                || t.is_data()
                || (s.no_partial_tiles && tile.contains(".p/"))
            {
                return (404, Vec::new());
            }
            let mut read = log::tlog::slice_reader(&log.hashes);
            return (200, log::read_tile_data(&t, &mut read).unwrap());
        }
    }
    (404, b"not found\n".to_vec())
}
