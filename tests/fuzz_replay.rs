//! The fuzz targets (`fuzz/src/lib.rs`, run at length by `scripts/fuzz.sh`) in the suite: the
//! same bodies, compiled here so they cannot rot, replayed on every seed and every input that
//! ever crashed one (`fuzz/regressions/`) and the hostile upload corpus, and on truncations and
//! single-byte changes of each (systematic, not random: the same inputs every run). A broken
//! invariant panics.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

/// The files under `dir`, at any depth, in a stable order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_fuzz_target_passes_its_seeds_regressions_and_their_neighbours() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (name, target) in targets::TARGETS {
        let mut inputs = files(&root.join("fuzz/seeds").join(name));
        inputs.extend(files(&root.join("fuzz/regressions").join(name)));
        if *name == "zip_validate" {
            inputs.extend(files(&root.join("tests/fixtures/hostile")));
        }
        assert!(!inputs.is_empty(), "{name}: no seeds");
        for path in &inputs {
            let data = std::fs::read(path).unwrap();
            let run = |input: &[u8]| {
                let outcome = std::panic::catch_unwind(|| target(input));
                assert!(
                    outcome.is_ok(),
                    "{name} fails on {} (changed: {input:?})",
                    path.display()
                );
            };
            run(&data);
            // Truncations, and bytes set to a few telling values: at every place of a short
            // input, at 32 places spread over a long one.
            let step = (data.len() / 32).max(1);
            for at in (0..data.len()).step_by(step) {
                run(&data[..at]);
                for value in [0u8, b'\n', b'%', 0xff] {
                    let mut changed = data.clone();
                    changed[at] = value;
                    run(&changed);
                }
            }
            total += 1;
        }
    }
    assert!(total >= 20, "{total} inputs");
}
