//! Hot paths of the store and the HTTP handlers, on a real disk.
//!
//! `BENCH_DIR` picks the directory of the database (default: the system temp dir; tmpfs hides
//! the cost of fsync, and on a Pi the SD card is the bottleneck). Run with
//! `cargo bench --bench store`; quick check: `cargo bench --bench store -- --test`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any failure

mod common;

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use goshelf::config::{Key, RawConfig};
use goshelf::http::{AppState, ConnInfo};
use goshelf::store::{NewVersion, Store, VersionLookup};

/// `cargo test --benches` runs each benchmark once with `--test`, in a debug build: there the
/// large sizes shrink so the suite stays fast, while `cargo bench` measures the real ones.
fn quick() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// The "50 MiB" size, or 1 MiB in `--test` runs.
fn large() -> usize {
    if quick() {
        1 << 20
    } else {
        50 << 20
    }
}

fn bench_dir() -> PathBuf {
    std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn module_zip(path: &str, version: &str, payload: usize, seed: u64) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(format!("{path}@{version}/go.mod"), opts)
        .unwrap();
    w.write_all(format!("module {path}\n\ngo 1.19\n").as_bytes())
        .unwrap();
    w.start_file(format!("{path}@{version}/data.bin"), opts)
        .unwrap();
    // Bytes that do not compress, so zips have their nominal size.
    w.write_all(&common::noise(payload, seed)).unwrap();
    w.finish().unwrap().into_inner()
}

fn publish(store: &Store, owner: &str, zip: &[u8]) {
    let (path, version) = goshelf::gomod::zip::read_prefix(Cursor::new(zip)).unwrap();
    let summary =
        goshelf::gomod::zip::validate(Cursor::new(zip), zip.len() as u64, &path, &version).unwrap();
    let new = NewVersion {
        owner,
        summary: &summary,
        blake3: *blake3::hash(zip).as_bytes(),
        size: zip.len() as u64,
        uploader: "bench",
        time: 1_700_000_000,
    };
    store.put_version(&new, &mut Cursor::new(zip)).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let raw = RawConfig::default()
        .with(Key::Listen, "127.0.0.1:0")
        .with_path(Key::Db, &dir.path().join("bench.redb"))
        .with(Key::Upstream, "off");
    let config = raw.resolve().unwrap();
    let store = Store::open(&config.db).unwrap();
    // 200 versions of one module, plus a 1 MiB and a 50 MiB zip.
    for i in 0..if quick() { 20 } else { 200 } {
        publish(
            &store,
            "acme",
            &module_zip("example.com/many", &format!("v1.{i}.0"), 2048, i),
        );
    }
    publish(
        &store,
        "acme",
        &module_zip("example.com/one", "v1.0.0", 1 << 20, 7),
    );
    publish(
        &store,
        "acme",
        &module_zip("example.com/fifty", "v1.0.0", large(), 8),
    );
    let state = AppState::new(store, config).unwrap();
    Fixture { _dir: dir, state }
}

fn store_paths(c: &mut Criterion) {
    let f = fixture();
    let store = Arc::clone(&f.state.store);
    let mut g = c.benchmark_group("store");
    g.bench_function("get_version", |b| {
        b.iter(|| {
            let r = store
                .get_version("acme", "example.com/many", "v1.15.0")
                .unwrap();
            assert!(matches!(r, VersionLookup::Found(_)));
        });
    });
    g.bench_function("get_go_mod", |b| {
        b.iter(|| {
            store
                .get_go_mod("acme", "example.com/many", "v1.15.0")
                .unwrap()
        });
    });
    g.bench_function("list_200_versions", |b| {
        b.iter(|| {
            let n = store
                .list_versions("acme", "example.com/many")
                .unwrap()
                .unwrap()
                .len();
            assert_eq!(n, if quick() { 20 } else { 200 });
        });
    });
    // What `@v/list` reads: the names only, no record decoding.
    g.bench_function("list_200_version_names", |b| {
        b.iter(|| {
            let n = store
                .list_version_names("acme", "example.com/many")
                .unwrap()
                .unwrap()
                .len();
            assert_eq!(n, if quick() { 20 } else { 200 });
        });
    });
    g.bench_function("module_exists_miss", |b| {
        b.iter(|| {
            assert!(!store
                .module_exists("acme", "example.com/many/sub/pkg")
                .unwrap())
        });
    });
    g.finish();

    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let upload_store = Store::open(&dir.path().join("upload.redb")).unwrap();
    let mut g = c.benchmark_group("upload");
    g.throughput(Throughput::Bytes(1 << 20));
    g.sample_size(20);
    let mut n = 0u64;
    g.bench_function("validate_and_store_1MiB", |b| {
        b.iter(|| {
            n += 1;
            publish(
                &upload_store,
                "acme",
                &module_zip("example.com/up", &format!("v1.0.{n}"), 1 << 20, n),
            );
        });
    });
    g.finish();
}

fn http_paths(c: &mut Criterion) {
    let f = fixture();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("http");
    let get = |path: &str| {
        let req = http::Request::builder()
            .uri(path)
            .body(bytes::Bytes::new())
            .unwrap();
        let r = rt.block_on(goshelf::http::oneshot(&f.state, ConnInfo::local(), req));
        assert!(r.status().is_success() || r.status() == 404);
        r.into_body().len()
    };
    let base = "/api/packages/acme/go";
    for (name, path) in [
        ("info", format!("{base}/example.com/many/@v/v1.15.0.info")),
        ("mod", format!("{base}/example.com/many/@v/v1.15.0.mod")),
        ("list_200", format!("{base}/example.com/many/@v/list")),
        ("latest_200", format!("{base}/example.com/many/@latest")),
        (
            "404_prefix",
            format!("{base}/example.com/many/sub/pkg/@v/list"),
        ),
    ] {
        g.bench_function(name, |b| b.iter(|| get(&path)));
    }
    g.sample_size(10);
    for (name, path, size) in [
        (
            "zip_1MiB",
            format!("{base}/example.com/one/@v/v1.0.0.zip"),
            1u64 << 20,
        ),
        (
            "zip_50MiB",
            format!("{base}/example.com/fifty/@v/v1.0.0.zip"),
            large() as u64,
        ),
    ] {
        g.throughput(Throughput::Bytes(size));
        g.bench_with_input(BenchmarkId::new("stream", name), &(), |b, ()| {
            b.iter(|| get(&path))
        });
    }
    g.finish();
}

/// The reference the HTTP numbers are read against: the same bytes read from plain files on
/// the same disk, as a static file server in GOPROXY layout would (spec.md §1.2).
fn reference_paths(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let info = dir.path().join("v1.15.0.info");
    std::fs::write(
        &info,
        "{\"Version\":\"v1.15.0\",\"Time\":\"2023-11-14T22:13:20Z\"}\n",
    )
    .unwrap();
    let one = dir.path().join("one.zip");
    std::fs::write(&one, module_zip("example.com/one", "v1.0.0", 1 << 20, 7)).unwrap();
    let fifty = dir.path().join("fifty.zip");
    std::fs::write(
        &fifty,
        module_zip("example.com/fifty", "v1.0.0", large(), 8),
    )
    .unwrap();
    let mut g = c.benchmark_group("reference");
    g.bench_function("fs_read_info", |b| {
        b.iter(|| std::fs::read(&info).unwrap().len())
    });
    g.sample_size(10);
    g.throughput(Throughput::Bytes(1 << 20));
    g.bench_function("fs_read_zip_1MiB", |b| {
        b.iter(|| std::fs::read(&one).unwrap().len())
    });
    g.throughput(Throughput::Bytes(large() as u64));
    g.bench_function("fs_read_zip_50MiB", |b| {
        b.iter(|| std::fs::read(&fifty).unwrap().len())
    });
    g.finish();
}

criterion_group!(benches, store_paths, http_paths, reference_paths);
criterion_main!(benches);
