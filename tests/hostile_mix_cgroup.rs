//! Issue 24: the adversarial mix (tests/mix) with the server inside a 256 MiB memory cgroup,
//! in a test binary of its own (see tests/mix/mod.rs for why).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "mix/mod.rs"]
mod mix;

use mix::{machine, run_in};

/// Issue 24: the adversarial mix with the server inside a 256 MiB memory cgroup: it is
/// never OOM-killed, every ordinary read and upload succeeds, and the cgroup's own count
/// of OOM kills stays 0.
#[test]
fn the_hostile_mix_inside_a_256_mib_memory_cgroup() {
    let _machine = machine();
    let cgroup = crate::support::cgroup::MemoryCgroup::new(256 << 20);
    let storm = run_in(true, Some(&cgroup.0));
    eprintln!("in 256 MiB: {storm:#?}");
    storm.assert_ordinary_client_served();
    let peak: u64 = cgroup
        .read("memory.max_usage_in_bytes")
        .trim()
        .parse()
        .unwrap();
    let oom = cgroup.read("memory.oom_control");
    eprintln!("cgroup peak {} MiB; {oom}", peak >> 20);
    let kills = oom
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .map_or(0, |n| n.trim().parse::<u64>().unwrap());
    assert_eq!(kills, 0, "the server was OOM-killed in 256 MiB: {oom}");
    assert!(
        peak > 0,
        "nothing was charged to the cgroup: the server ran outside it"
    );
}
