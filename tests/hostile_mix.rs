//! Issue 16's adversarial mix (every hostile client of tests/edge_hostile.rs at once, for
//! 30 s), in a test binary of its own: cargo runs test binaries one after another, so the
//! mix's deadlines and memory are measured on a machine that no other test loads (in the
//! shared binary, a full suite's go builds and bulk writes beside it made its clients miss
//! deadlines that it meets alone).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "mix/mod.rs"]
mod mix;

use std::time::Duration;

use mix::{machine, run, HEADER_TIMEOUT, MIB, SEND_TIMEOUT};

/// Issue 16, "What it must show": the mix at once for 30 s (300 concurrent bad-password
/// requests, 10 concurrent 200,000-entry uploads, 50 never-ending multipart headers, 200
/// idle HTTP/1 and h2 connections, 20 stalled zip readers) while an ordinary client reads
/// through GOPROXY and publishes: every ordinary read succeeds, every hostile request ends
/// within its deadline, the server's peak RSS stays under 256 MiB, and its database file
/// ends within 1.2x of the same run without the hostile clients.
#[test]
fn the_hostile_mix_at_once_leaves_ordinary_clients_served_and_memory_bounded() {
    let _machine = machine();
    let calm = run(false);
    let storm = run(true);
    eprintln!("without hostile clients: {calm:#?}");
    eprintln!("with them: {storm:#?}");
    calm.assert_ordinary_client_served();
    storm.assert_ordinary_client_served();
    assert!(
        storm.peak_kib < 256 * MIB,
        "peak RSS {} MiB",
        storm.peak_kib / MIB
    );
    let limits = [
        ("bad password", Duration::from_secs(HEADER_TIMEOUT + 5)),
        ("200,000-entry upload", Duration::from_secs(60)),
        (
            "endless multipart header",
            Duration::from_secs(HEADER_TIMEOUT + 5),
        ),
        (
            "idle or h2 connection",
            Duration::from_secs(HEADER_TIMEOUT + 2),
        ),
        ("stalled zip reader", Duration::from_secs(SEND_TIMEOUT + 5)),
    ];
    for ((kind, ended, longest), (_, limit)) in storm.hostile.iter().zip(limits) {
        assert!(*ended > 0, "no {kind} ran");
        assert!(*longest <= limit, "a {kind} lasted {longest:?}");
    }
    assert_eq!(
        storm.stalled_cut, 20,
        "stalled readers not cut off: {storm:?}"
    );
    crate::support::hostile::assert_space_within(storm.db, calm.db, "the hostile mix");
}
