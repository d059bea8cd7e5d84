//! Memory cgroups for tests (cgroup v1, made through cgroupfs as children of the test's own
//! memory cgroup; there is no systemd here).

static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A child memory cgroup of this process's own (cgroup v1, made through cgroupfs; one at
/// the root would escape the machine's own limit), limited to `limit` bytes, removed when
/// dropped.
pub struct MemoryCgroup(pub std::path::PathBuf);

impl MemoryCgroup {
    pub fn new(limit: u64) -> MemoryCgroup {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let v1 = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_owned())
        });
        let Some(path) = v1 else {
            panic!(
                "no cgroup v1 memory controller in /proc/self/cgroup (cgroup v2 only: \
                 not supported by this test yet):\n{own}"
            );
        };
        let parent =
            std::path::Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
        let dir = parent.join(format!(
            "goshelf-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot make the cgroup {}: {e}", dir.display()));
        let cg = MemoryCgroup(dir);
        std::fs::write(cg.0.join("memory.limit_in_bytes"), limit.to_string()).unwrap();
        let set: u64 = cg.read("memory.limit_in_bytes").trim().parse().unwrap();
        assert_eq!(set, limit, "the kernel did not take the limit");
        cg
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Empty once the server has exited; a leftover is harmless but said.
        if let Err(e) = std::fs::remove_dir(&self.0) {
            eprintln!("could not remove {}: {e}", self.0.display());
        }
    }
}
