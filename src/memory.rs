//! Small-RAM defaults (issue 24): the memory the process may use (its cgroup's limit, else the
//! machine's), and the caches and pools sized down from it. Below 1 GiB every cache and the
//! default concurrency of expensive work shrink in proportion; at 1 GiB and above they are
//! the sizes the rest of the code was measured with, never more. Settings given explicitly
//! (`upload_concurrency`, `upstream_concurrency`) win over these defaults.

/// Memory at and above which nothing is scaled down.
pub const FULL: u64 = 1 << 30;

/// What the process may use: the smallest of the machine's memory (`MemTotal`) and the limit
/// of its memory cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`), read once at start;
/// `None` when none can be read (then nothing is scaled).
#[must_use]
pub fn available() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| mem_total(&m));
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|own| cgroup_limit(&own, |p| std::fs::read_to_string(p).ok()));
    [total, cgroup].into_iter().flatten().min()
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The memory limit of the cgroup named in `/proc/self/cgroup` (`own`), reading cgroupfs
/// files with `read`; `None` for no limit ("max", or v1's near-2^63 "unlimited").
fn cgroup_limit(own: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let parse = |text: String| -> Option<u64> {
        let n: u64 = text.trim().parse().ok()?;
        (n < 1 << 60).then_some(n)
    };
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_end_matches('/');
        // Hierarchy 0 is cgroup v2's, the only one with no controllers listed (proc(7)).
        if id == "0" {
            if let Some(n) = read(&format!("/sys/fs/cgroup{path}/memory.max")).and_then(parse) {
                return Some(n);
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            let file = format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes");
            if let Some(n) = read(&file).and_then(parse) {
                return Some(n);
            }
        }
    }
    None
}

/// `full` scaled to `memory` (`None`: not scaled), never above `full` nor below `least`.
#[must_use]
pub fn scaled(full: usize, least: usize, memory: Option<u64>) -> usize {
    // From `FULL` up the proportion is `full` or more, and the clamp keeps `full`.
    let Some(mem) = memory else {
        return full;
    };
    let part = (full as u128 * u128::from(mem) / u128::from(FULL)) as usize;
    part.clamp(least.min(full), full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_shrinks_below_a_gib_and_never_grows() {
        assert_eq!(scaled(16 << 20, 1 << 20, None), 16 << 20);
        assert_eq!(scaled(16 << 20, 1 << 20, Some(8 << 30)), 16 << 20);
        assert_eq!(scaled(16 << 20, 1 << 20, Some(FULL)), 16 << 20);
        assert_eq!(scaled(16 << 20, 1 << 20, Some(512 << 20)), 8 << 20);
        assert_eq!(scaled(16 << 20, 1 << 20, Some(256 << 20)), 4 << 20);
        assert_eq!(scaled(16 << 20, 1 << 20, Some(32 << 20)), 1 << 20);
        assert_eq!(scaled(16, 2, Some(128 << 20)), 2);
        assert_eq!(
            scaled(4, 8, Some(1)),
            4,
            "the least never exceeds the full size"
        );
    }

    #[test]
    fn the_machine_s_memory_is_read() {
        // Linux, where this runs, always has /proc/meminfo; a cgroup limit can only lower it.
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let total = mem_total(&meminfo).unwrap();
        let got = available().unwrap();
        assert!(got > 0 && got <= total, "{got} of {total}");
    }

    #[test]
    fn mem_total_and_cgroup_limits_are_read_as_the_kernel_writes_them() {
        assert_eq!(
            mem_total("MemTotal:        8041552 kB\nMemFree: 1 kB\n"),
            Some(8_041_552 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        let files = |want: &'static str, value: &'static str| {
            move |p: &str| (p == want).then(|| value.to_owned())
        };
        // cgroup v2
        let v2 = "0::/user.slice/goshelf.service\n";
        assert_eq!(
            cgroup_limit(
                v2,
                files(
                    "/sys/fs/cgroup/user.slice/goshelf.service/memory.max",
                    "268435456\n"
                )
            ),
            Some(256 << 20)
        );
        assert_eq!(
            cgroup_limit(
                v2,
                files(
                    "/sys/fs/cgroup/user.slice/goshelf.service/memory.max",
                    "max\n"
                )
            ),
            None
        );
        // cgroup v1, limited and unlimited
        let v1 = "4:memory:/box/one\n1:cpu:/\n0::/\n";
        assert_eq!(
            cgroup_limit(
                v1,
                files(
                    "/sys/fs/cgroup/memory/box/one/memory.limit_in_bytes",
                    "536870912"
                )
            ),
            Some(512 << 20)
        );
        assert_eq!(
            cgroup_limit(
                v1,
                files(
                    "/sys/fs/cgroup/memory/box/one/memory.limit_in_bytes",
                    "9223372036854771712"
                )
            ),
            None
        );
        // 2^60 and more is no limit; just below it is one.
        for (value, want) in [
            ("1152921504606846976", None),
            ("1152921504606846975", Some((1 << 60) - 1)),
        ] {
            let read = files("/sys/fs/cgroup/memory/box/one/memory.limit_in_bytes", value);
            assert_eq!(cgroup_limit(v1, read), want, "{value}");
        }
    }
}
