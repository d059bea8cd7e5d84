//! Times module zip validation (`gomod::zip::validate`, which inflates, CRC-checks and hashes
//! every entry) and the h1 computation alone, on synthetic modules of about 1 KiB, 1 MiB and
//! 100 MiB of source. Each zip is built once, in memory, before its group runs.
//!
//! `cargo bench --bench gomod` for numbers; `cargo bench --bench gomod -- --test` (and
//! `cargo test --benches`) runs each benchmark once as a smoke test, with the 100 MiB module
//! shrunk to 2 MiB. Record the machine with any number you publish.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken bench setup should stop loudly

use std::hint::black_box;
use std::io::{Cursor, Write};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use goshelf::gomod::hash::H1Builder;
use goshelf::gomod::zip::validate;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const PATH: &str = "example.com/bench";
const VERSION: &str = "v1.0.0";

/// A synthetic module: `(name inside the zip, content)`.
struct Module {
    files: Vec<(String, Vec<u8>)>,
    zip: Vec<u8>,
}

impl Module {
    fn source_bytes(&self) -> u64 {
        self.files.iter().map(|(_, d)| d.len() as u64).sum()
    }
}

/// Go-looking source that deflates about as well as real code (3–5x), so inflating costs what
/// it would on a real module.
fn source(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    out.extend_from_slice(b"package bench\n\n");
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(
            out,
            "func f{:x}(a int) int {{ return a*{} + {} }}",
            x >> 40,
            x % 977,
            x % 131
        )
        .unwrap();
    }
    out.truncate(len);
    out
}

/// A module of about `total` bytes of source, in files of at most 64 KiB, deflated.
fn module(total: usize) -> Module {
    let prefix = format!("{PATH}@{VERSION}/");
    let mut files = vec![(
        format!("{prefix}go.mod"),
        format!("module {PATH}\n\ngo 1.19\n").into_bytes(),
    )];
    let mut left = total.saturating_sub(files[0].1.len());
    let mut i = 0_u64;
    while left > 0 {
        let len = left.min(64 << 10);
        files.push((format!("{prefix}pkg{}/f{i}.go", i % 16), source(i, len)));
        left -= len;
        i += 1;
    }
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in &files {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(data).unwrap();
    }
    let zip = w.finish().unwrap().into_inner();
    Module { files, zip }
}

/// Whether criterion runs each bench once as a test (`--test`, as `cargo test --benches` passes
/// to an unoptimised build), where building and validating 100 MiB would take minutes.
fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

fn bench_sizes(c: &mut Criterion) {
    // In quick mode the "100MiB" case keeps its name, so that every bench still runs, but is
    // only 2 MiB: enough for more than one 64 KiB file per package directory.
    let large = if quick() { 2 << 20 } else { 100 << 20 };
    let sizes = [("1KiB", 1 << 10), ("1MiB", 1 << 20), ("100MiB", large)];
    let modules: Vec<(&str, Module)> = sizes.iter().map(|&(l, n)| (l, module(n))).collect();
    for (_, m) in &modules {
        // The synthetic module is valid, and its h1 is what the h1 bench computes.
        let summary = validate(Cursor::new(&m.zip), m.zip.len() as u64, PATH, VERSION).unwrap();
        assert_eq!(summary.h1, h1_of(&m.files));
    }

    let mut group = c.benchmark_group("validate");
    for (label, m) in &modules {
        configure(&mut group, m);
        group.bench_with_input(BenchmarkId::from_parameter(label), &m.zip, |b, zip| {
            b.iter(|| {
                validate(Cursor::new(black_box(zip)), zip.len() as u64, PATH, VERSION).unwrap()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("h1");
    for (label, m) in &modules {
        configure(&mut group, m);
        group.bench_with_input(BenchmarkId::from_parameter(label), &m.files, |b, files| {
            b.iter(|| h1_of(black_box(files)));
        });
    }
    group.finish();
}

/// Throughput in source bytes; fewer, longer samples for the 100 MiB module.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, m: &Module) {
    group.throughput(Throughput::Bytes(m.source_bytes()));
    if m.source_bytes() >= 100 << 20 {
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(30));
    } else {
        group
            .sample_size(100)
            .measurement_time(Duration::from_secs(5));
    }
}

/// The zip's h1 from the uncompressed files: SHA-256 of each, then `Hash1`.
fn h1_of(files: &[(String, Vec<u8>)]) -> String {
    let mut h1 = H1Builder::new();
    for (name, data) in files {
        h1.add(name, Sha256::digest(data).into());
    }
    h1.finish().unwrap()
}

criterion_group!(benches, bench_sizes);
criterion_main!(benches);
