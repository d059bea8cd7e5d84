//! Helpers for the unit tests.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How long a parser may take on a test's input before the test calls its loop endless.
const LIMIT: Duration = Duration::from_secs(5);

/// Runs `f` on a thread of its own and returns what it returns; panics when `f` panics or
/// takes longer than five seconds. A test whose parser loops forever (as a mutant of a
/// loop's step can make it: `pos += 1` into `pos *= 1`) then fails in seconds instead of
/// hanging its run; the stray thread ends with the test process.
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    within_for(LIMIT, f)
}

fn within_for<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(RecvTimeoutError::Timeout) => {
            panic!("did not finish within {limit:?}: an endless loop")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("panicked (see above)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_comes_back() {
        assert_eq!(within(|| 6 * 7), 42);
    }

    #[test]
    #[should_panic(expected = "an endless loop")]
    fn an_endless_loop_fails_the_test() {
        within_for(Duration::from_millis(200), || loop {
            std::thread::sleep(Duration::from_millis(100));
        });
    }

    #[test]
    #[should_panic(expected = "panicked")]
    fn a_panic_fails_the_test() {
        within(|| panic!("inside"));
    }
}
