//! Group commit of uploads (issue 6): concurrent `put_version` calls share one durable write
//! transaction. Every acknowledged version must survive a reopen, refused ones (a duplicate, a
//! zip whose bytes do not match its hash) must leave no trace, and a member that fails
//! half-written must not take the other members of its group down with it.

use std::io::Cursor;
use std::sync::{Arc, Barrier};

use goshelf::gomod::zip::ZipSummary;
use goshelf::gomod::{ModulePath, Version};
use goshelf::store::{self, NewVersion, Store, VersionLookup, ZipLookup};

fn summary(module: &str, version: &str, h1: &str) -> ZipSummary {
    ZipSummary {
        path: ModulePath::from_store_unchecked(module.to_owned()),
        version: Version::from_store_unchecked(version.to_owned()),
        h1: h1.to_owned(),
        mod_bytes: format!("module {module}\n").into_bytes(),
        mod_h1: format!("h1:mod-{module}"),
        has_go_mod: false,
        files: 0,
    }
}

/// Distinct bytes per (round, thread), a few KB to a little over one chunk.
fn content(round: u32, i: u32) -> Vec<u8> {
    let len = 3000 + (i as usize * 7919) % 300_000;
    let mut x = (u64::from(round) << 32 | u64::from(i)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn put(
    store: &Store,
    module: &str,
    version: &str,
    announced: &[u8],
    sent: Vec<u8>,
) -> store::Result<()> {
    let s = summary(module, version, &format!("h1:{}", blake3::hash(announced)));
    let new = NewVersion {
        owner: "acme",
        summary: &s,
        blake3: *blake3::hash(announced).as_bytes(),
        size: announced.len() as u64,
        uploader: "test",
        time: 1_700_000_000,
    };
    store.put_version(&new, &mut Cursor::new(sent))
}

fn read_zip(store: &Store, module: &str, version: &str) -> Option<Vec<u8>> {
    match store.open_zip("acme", module, version).unwrap() {
        ZipLookup::Found(_, reader) => {
            let mut out = Vec::new();
            while (out.len() as u64) < reader.size() {
                let n = reader.read_at(out.len() as u64, 1 << 20, &mut out).unwrap();
                assert!(n > 0, "reader stalled");
            }
            Some(out)
        }
        _ => None,
    }
}

/// The threads whose upload sends other bytes than it announces.
fn refused(i: u32) -> bool {
    i % 6 >= 3
}

#[test]
fn concurrent_puts_are_durable_and_a_bad_member_fails_alone() {
    const THREADS: u32 = 24;
    const ROUNDS: u32 = 6;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.redb");
    let store = Arc::new(Store::open(&path).unwrap());
    let mut dup_wins = 0;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(THREADS as usize));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    let module = "example.com/g";
                    let version = format!("v1.{round}.{i}");
                    let bytes = content(round, i);
                    // Announces one hash and size, and sends other bytes: changed, cut off
                    // halfway through a value, or with one byte more.
                    let sent = match i % 6 {
                        5 => {
                            let mut other = bytes.clone();
                            other[0] ^= 0xff;
                            other
                        }
                        4 => bytes[..bytes.len() / 2].to_vec(),
                        3 => [bytes.as_slice(), b"+"].concat(),
                        _ => bytes.clone(),
                    };
                    let own = put(&store, module, &version, &bytes, sent);
                    // Everyone also races for the same version of another module.
                    let dup_bytes = content(99, round);
                    let dup = put(
                        &store,
                        "example.com/dup",
                        &format!("v0.0.{round}"),
                        &dup_bytes,
                        dup_bytes.clone(),
                    );
                    (i, own, dup)
                })
            })
            .collect();
        for h in handles {
            let (i, own, dup) = h.join().unwrap();
            if refused(i) {
                assert!(
                    matches!(own, Err(store::Error::Corrupt(_))),
                    "round {round} thread {i}: a zip with the wrong bytes was not refused: {own:?}"
                );
            } else {
                assert!(own.is_ok(), "round {round} thread {i}: {own:?}");
            }
            match dup {
                Ok(()) => dup_wins += 1,
                Err(store::Error::VersionExists { .. }) => {}
                Err(e) => panic!("round {round} thread {i}: racing duplicate: {e:?}"),
            }
        }
    }
    assert_eq!(
        dup_wins, ROUNDS,
        "exactly one upload of each raced version wins"
    );

    // Everything acknowledged is in the file after a reopen, with its bytes; refused ones
    // left nothing behind, not even blob bytes.
    drop(store);
    let store = Store::open(&path).unwrap();
    let mut good = 0;
    for round in 0..ROUNDS {
        for i in 0..THREADS {
            let version = format!("v1.{round}.{i}");
            if refused(i) {
                assert!(
                    matches!(
                        store
                            .get_version("acme", "example.com/g", &version)
                            .unwrap(),
                        VersionLookup::Missing
                    ),
                    "refused {version} is visible"
                );
            } else {
                good += 1;
                assert_eq!(
                    read_zip(&store, "example.com/g", &version),
                    Some(content(round, i)),
                    "{version} lost or changed"
                );
            }
        }
        assert_eq!(
            read_zip(&store, "example.com/dup", &format!("v0.0.{round}")),
            Some(content(99, round))
        );
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.versions, u64::from(good + ROUNDS));
    assert_eq!(
        stats.blobs,
        u64::from(good + ROUNDS),
        "a refused upload left a blob"
    );
    assert_eq!(stats.referenced_bytes, stats.blob_bytes);
    // Nor a chunk of a value cut short: exactly the accepted blobs' chunks are stored.
    let want: u64 = (0..ROUNDS)
        .flat_map(|round| {
            let own = (0..THREADS)
                .filter(|&i| !refused(i))
                .map(move |i| content(round, i));
            own.chain(std::iter::once(content(99, round)))
        })
        .map(|bytes| u64::from(store::Layout::new(bytes.len() as u64).count()))
        .sum();
    assert_eq!(stats.chunks, want, "chunks of refused uploads were left");
}
