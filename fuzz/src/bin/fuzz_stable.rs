//! A fuzz runner for the stable toolchain, without coverage feedback: it replays every seed and
//! regression file, then mutates them (bit flips, byte sets, splices, truncations, inserted
//! "interesting" values; xorshift64*, seeded so a run can be repeated) for a bounded time.
//! The first panic (or an input slower than 10 s) stops the run, writes the input to `artifacts/<target>/crash-<blake-ish>`
//! and exits 1. cargo-fuzz (nightly) is the stronger tool; this one reproduces regressions and
//! keeps the targets honest where nightly is missing.
//!
//! `fuzz_stable <target> [--seconds N] [--seed N] [--max-len N] [PATH...]`, where each PATH is
//! a file or a directory of files.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use goshelf_fuzz::TARGETS;

/// An input slower than this counts as a hang, as libFuzzer's `-timeout=10` would.
const SLOW: Duration = Duration::from_secs(10);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\x00",
    b"\xff",
    b"\xff\xff",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x80",
    b"PK\x01\x02",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x06\x06",
    b"PK\x06\x07",
    b"/",
    b"..",
    b"@",
    b"!",
    b"%",
    b"+incompatible",
    b"-0.20240102030405-abcdef123456",
    b"\n",
    b"//",
    b"\"",
    b"`",
    b"(",
    b")",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>], max_len: usize) {
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = u8::try_from(rng.below(256)).unwrap_or(0);
            }
            2 => {
                let word = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(input.len() + 1);
                if rng.below(2) == 0 || at + word.len() > input.len() {
                    input.splice(at..at, word.iter().copied());
                } else {
                    input[at..at + word.len()].copy_from_slice(word);
                }
            }
            3 if !input.is_empty() => {
                let at = rng.below(input.len());
                let len = rng.below(input.len() - at + 1);
                input.drain(at..at + len);
            }
            4 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let len = rng.below(other.len() - from + 1).min(4096);
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, other[from..from + len].iter().copied());
                }
            }
            5 if input.len() > 1 => {
                let a = rng.below(input.len());
                let b = rng.below(input.len());
                input.swap(a, b);
            }
            _ => {
                let at = rng.below(input.len() + 1);
                let v = u8::try_from(rng.below(256)).unwrap_or(0);
                input.insert(at, v);
            }
        }
    }
    input.truncate(max_len);
}

fn collect(path: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    if path.is_dir() {
        let Ok(dir) = std::fs::read_dir(path) else {
            return;
        };
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            collect(&p, out);
        }
    } else if let Ok(bytes) = std::fs::read(path) {
        out.push((path.to_path_buf(), bytes));
    }
}

fn fingerprint(data: &[u8]) -> String {
    // FNV-1a: enough to name an artifact.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn run_one(target: fn(&[u8]), data: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| target(data))).is_ok()
}

fn crash(name: &str, data: &[u8], origin: &str) -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(name);
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("crash-{}", fingerprint(data)));
    let _ = std::fs::write(&file, data);
    eprintln!(
        "fuzz_stable {name}: CRASH on {origin} ({} bytes), saved to {}",
        data.len(),
        file.display()
    );
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz_stable <target> [--seconds N] [--seed N] [--max-len N] [PATH...]";
    let Some(name) = args.first() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let Some(&(_, target)) = TARGETS.iter().find(|(n, _)| n == name) else {
        let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "{usage}\nunknown target {name:?}; targets: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let (mut seconds, mut seed, mut max_len) = (60_u64, 0x9E37_79B9_7F4A_7C15_u64, 1 << 16);
    let mut inputs = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seconds" => seconds = value().unwrap_or(seconds),
            "--seed" => seed = value().unwrap_or(seed).max(1),
            "--max-len" => {
                max_len = value()
                    .and_then(|v| usize::try_from(v).ok())
                    .unwrap_or(max_len);
            }
            path => collect(Path::new(path), &mut inputs),
        }
    }
    // Quiet the default hook: a crash is reported once, below, with its input saved.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::env::var_os("FUZZ_VERBOSE").is_some() {
            default_hook(info);
        } else {
            eprintln!("panic: {info}");
        }
    }));

    for (path, data) in &inputs {
        if !run_one(target, data) {
            return crash(name, data, &path.display().to_string());
        }
    }
    let mut pool: Vec<Vec<u8>> = inputs.into_iter().map(|(_, d)| d).collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut execs, mut slowest) = (0_u64, Duration::ZERO);
    while Instant::now() < deadline {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &mut input, &pool, max_len);
        let start = Instant::now();
        if !run_one(target, &input) {
            return crash(name, &input, &format!("mutation #{execs} (seed {seed})"));
        }
        let took = start.elapsed();
        if took > SLOW {
            return crash(
                name,
                &input,
                &format!("mutation #{execs}: timeout, took {took:?}"),
            );
        }
        slowest = slowest.max(took);
        execs += 1;
        // Keep a few mutants as parents, so mutations compound.
        if execs % 64 == 0 && pool.len() < 4096 {
            pool.push(input);
        }
    }
    eprintln!(
        "fuzz_stable {name}: {execs} execs in {seconds} s, no crash (slowest input {slowest:?}, \
         seed {seed})"
    );
    ExitCode::SUCCESS
}
