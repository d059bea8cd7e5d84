//! The log writer: standard error, with the request log buffered.
//!
//! One line per request written straight to standard error is one `write` system call per
//! request: measured under load (`perf/run.sh`, BENCHMARKS.md) that was about 6 % of the
//! server's CPU on small GOPROXY answers. Request lines (target `goshelf::request`) are
//! therefore collected in memory and written in one call when `FLUSH_BYTES` have gathered or
//! `FLUSH_INTERVAL` has passed, the way nginx's `access_log ... buffer= flush=` works. Every
//! other line (start-up, warnings, errors) first writes out what is buffered and then itself,
//! at once, so the order of lines is kept and nothing important waits.
//!
//! The price: after `kill -9` or a power loss, the request lines of the last
//! `FLUSH_INTERVAL` may be missing from the log. A normal exit (`flush`) loses nothing.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// The target of the one-line-per-request log.
pub const REQUEST_TARGET: &str = "goshelf::request";
/// Buffered request lines are written at the latest after this long.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// ... or once this many bytes are buffered.
pub const FLUSH_BYTES: usize = 32 << 10;

/// Where log lines go: `std::io::stderr` by default; any writer in tests.
type Sink = Box<dyn Write + Send>;

struct Inner {
    buf: Vec<u8>,
    sink: Sink,
}

impl Inner {
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            // A log that cannot be written is not worth failing a request for.
            let _ = self.sink.write_all(&self.buf);
            self.buf.clear();
        }
        let _ = self.sink.flush();
    }
}

/// A `MakeWriter` for `tracing_subscriber::fmt` (cheap to clone).
#[derive(Clone)]
pub struct LogWriter {
    inner: Arc<Mutex<Inner>>,
}

impl LogWriter {
    /// A writer to standard error.
    #[must_use]
    pub fn stderr() -> Self {
        Self::to(Box::new(std::io::stderr()))
    }

    /// A writer to `sink`.
    #[must_use]
    pub fn to(sink: Sink) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                buf: Vec::with_capacity(FLUSH_BYTES),
                sink,
            })),
        }
    }

    /// Writes out whatever is buffered.
    pub fn flush(&self) {
        self.lock().flush();
    }

    /// Starts a thread that calls `flush` every `FLUSH_INTERVAL` for as long as the process
    /// lives (it holds only a clone of the writer).
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn_flusher(&self) -> std::io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_INTERVAL);
                let mut inner = me.lock();
                if !inner.buf.is_empty() {
                    inner.flush();
                }
            })
            .map(drop)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One event's writer: buffered for request lines, direct for everything else.
pub struct EventWriter {
    inner: Arc<Mutex<Inner>>,
    buffered: bool,
}

impl Write for EventWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.buf.extend_from_slice(data);
        if !self.buffered || inner.buf.len() >= FLUSH_BYTES {
            inner.flush();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffered {
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush();
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            inner: Arc::clone(&self.inner),
            buffered: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EventWriter {
            inner: Arc::clone(&self.inner),
            buffered: meta.target() == REQUEST_TARGET && *meta.level() >= tracing::Level::INFO,
        }
    }
}

/// The process's writer, once `install` ran (the binary does; tests and benches need not).
static INSTALLED: std::sync::OnceLock<LogWriter> = std::sync::OnceLock::new();

impl LogWriter {
    /// Makes this the writer `request` writes to directly. Only the first call counts.
    pub fn install(&self) {
        let _ = INSTALLED.set(self.clone());
    }
}

/// Logs one request line at INFO under `REQUEST_TARGET`, in the same layout as the
/// `tracing_subscriber::fmt` lines around it (without colours).
///
/// The line is formatted here into the buffer rather than through `tracing`'s formatter:
/// under load that formatter (per-character escaping, the timestamp) was most of the log's
/// cost. The level filter (`RUST_LOG`) still decides whether the line is written.
pub fn request(method: &str, path: &str, status: u16, bytes: Option<u64>, millis: f64) {
    if !tracing::enabled!(target: REQUEST_TARGET, tracing::Level::INFO) {
        return;
    }
    let Some(writer) = INSTALLED.get() else {
        let bytes = bytes.map_or_else(|| "-".to_owned(), |n| n.to_string());
        tracing::info!(target: REQUEST_TARGET, "{method} {path} {status} {bytes} {millis:.1}ms");
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut inner = writer.lock();
    let buf = &mut inner.buf;
    push_timestamp(buf, now.as_secs(), now.subsec_micros());
    buf.extend_from_slice(b"  INFO ");
    buf.extend_from_slice(REQUEST_TARGET.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(method.as_bytes());
    buf.push(b' ');
    // Request targets are visible ASCII (hyper refuses others); be safe anyway.
    buf.extend(
        path.bytes()
            .map(|b| if b.is_ascii_control() { b'?' } else { b }),
    );
    push_outcome(buf, status, bytes, millis);
    if inner.buf.len() >= FLUSH_BYTES {
        inner.flush();
    }
}

/// Appends ` {status} {bytes or -} {millis:.1}ms` and the newline, without `core::fmt`: a
/// request line is written for every request, and the formatting machinery (a float above
/// all) was a few per cent of a cached answer's CPU time. The time is scaled by ten and
/// rounded half away from zero, so its last digit can differ from `format!`'s (which rounds
/// the exact binary value, half to even) for times within a rounding error of a half, such
/// as 0.15 ms: "0.2" here, "0.1" there.
fn push_outcome(buf: &mut Vec<u8>, status: u16, bytes: Option<u64>, millis: f64) {
    buf.push(b' ');
    push_decimal(buf, u64::from(status), 1);
    buf.push(b' ');
    match bytes {
        Some(n) => push_decimal(buf, n, 1),
        None => buf.push(b'-'),
    }
    buf.push(b' ');
    // A time is never negative or not finite; should one be, it reads 0.0.
    let tenths = if millis.is_finite() && millis > 0.0 {
        // Saturates at u64::MAX for absurd values, which is fine for a log.
        (millis * 10.0).round() as u64
    } else {
        0
    };
    push_decimal(buf, tenths / 10, 1);
    buf.push(b'.');
    push_decimal(buf, tenths % 10, 1);
    buf.extend_from_slice(b"ms\n");
}

/// Appends `n` in decimal, zero-padded to at least `width` digits (at most 20).
fn push_decimal(buf: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(width));
    buf.extend_from_slice(&digits[start..]);
}

/// `2006-01-02T15:04:05.000000Z` for Unix seconds and microseconds (UTC). The part up to the
/// seconds is made once a second per thread.
fn push_timestamp(buf: &mut Vec<u8>, secs: u64, micros: u32) {
    thread_local! {
        static PREFIX: std::cell::RefCell<(u64, Vec<u8>)> =
            const { std::cell::RefCell::new((u64::MAX, Vec::new())) };
    }
    PREFIX.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != secs {
            let days = i64::try_from(secs / 86_400).unwrap_or(0);
            let rem = secs % 86_400;
            let (y, m, d) = civil_from_days(days);
            let prefix = &mut cell.1;
            prefix.clear();
            let _ = write!(
                prefix,
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            cell.0 = secs;
        }
        buf.extend_from_slice(&cell.1);
    });
    push_decimal(buf, u64::from(micros), 6);
    buf.push(b'Z');
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic Gregorian; Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose bytes the test can read, counting its writes.
    #[derive(Clone, Default)]
    struct Probe(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Probe {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            let mut p = self.0.lock().unwrap();
            p.0.extend_from_slice(data);
            p.1 += 1;
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Probe {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    fn subscriber(w: LogWriter) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(w)
            .with_ansi(false)
            .without_time()
            .finish()
    }

    #[test]
    fn request_lines_wait_other_lines_flush_them_in_order() {
        let probe = Probe::default();
        let w = LogWriter::to(Box::new(probe.clone()));
        tracing::subscriber::with_default(subscriber(w.clone()), || {
            tracing::info!(target: "goshelf::request", "GET /a 200");
            tracing::info!(target: "goshelf::request", "GET /b 404");
            assert_eq!(probe.text(), "", "request lines are buffered");
            tracing::warn!("disk nearly full");
        });
        let text = probe.text();
        let a = text.find("GET /a 200").unwrap();
        let b = text.find("GET /b 404").unwrap();
        let warn = text.find("disk nearly full").unwrap();
        assert!(a < b && b < warn, "{text}");
        // The two request lines and the warning went out together, in one write.
        assert_eq!(probe.writes(), 1, "{text}");
    }

    #[test]
    fn a_full_buffer_and_flush_write_request_lines() {
        let probe = Probe::default();
        let w = LogWriter::to(Box::new(probe.clone()));
        let line = "x".repeat(1000);
        tracing::subscriber::with_default(subscriber(w.clone()), || {
            for _ in 0..(FLUSH_BYTES / 1000 + 1) {
                tracing::info!(target: "goshelf::request", "{line}");
            }
        });
        assert!(probe.writes() >= 1, "written once the buffer filled");
        let before = probe.text().len();
        tracing::subscriber::with_default(subscriber(w.clone()), || {
            tracing::info!(target: "goshelf::request", "GET /last 200");
        });
        assert_eq!(probe.text().len(), before);
        w.flush();
        assert!(
            probe.text().ends_with("GET /last 200\n"),
            "{}",
            probe.text()
        );
    }

    #[test]
    fn outcomes_read_as_format_would_write_them() {
        let cases: [(u16, Option<u64>, f64); 8] = [
            (200, Some(0), 0.0),
            (404, Some(17), 0.04),
            (410, None, 0.26),
            (206, Some(u64::MAX), 12.34),
            (304, Some(1_000_000), 999.96),
            (500, Some(7), 123_456.7),
            (200, Some(3), f64::NAN),
            (200, Some(3), -1.0),
        ];
        for (status, bytes, millis) in cases {
            let mut buf = Vec::new();
            push_outcome(&mut buf, status, bytes, millis);
            let n = bytes.map_or_else(|| "-".to_owned(), |n| n.to_string());
            let shown = if millis.is_finite() && millis > 0.0 {
                millis
            } else {
                0.0
            };
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                format!(" {status} {n} {shown:.1}ms\n"),
                "{millis}"
            );
        }
        let mut buf = Vec::new();
        push_decimal(&mut buf, 42, 6);
        push_decimal(&mut buf, 1_234_567, 6);
        assert_eq!(buf, b"0000421234567");
    }

    #[test]
    fn timestamps_match_the_time_crate() {
        let fmt = time::format_description::parse_borrowed::<2>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z",
        )
        .unwrap();
        // Epoch, leap days, centuries (2000 is a leap year, 2100 is not), far future.
        for secs in [
            0u64,
            951_782_400,
            951_868_800,
            1_709_164_800,
            1_764_201_599,
            4_107_542_400,
            4_107_628_800,
            253_402_300_799,
        ] {
            let mut buf = Vec::new();
            push_timestamp(&mut buf, secs, 123_456);
            let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap())
                .unwrap()
                .replace_microsecond(123_456)
                .unwrap();
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                t.format(&fmt).unwrap(),
                "{secs}"
            );
        }
        for day in (0..200_000).step_by(7) {
            let t = time::OffsetDateTime::from_unix_timestamp(day * 86_400).unwrap();
            assert_eq!(
                civil_from_days(day),
                (
                    i64::from(t.year()),
                    u32::from(u8::from(t.month())),
                    u32::from(t.day())
                ),
                "day {day}"
            );
        }
    }

    #[test]
    fn the_flusher_thread_writes_within_the_interval() {
        let probe = Probe::default();
        let w = LogWriter::to(Box::new(probe.clone()));
        w.spawn_flusher().unwrap();
        tracing::subscriber::with_default(subscriber(w.clone()), || {
            tracing::info!(target: "goshelf::request", "GET /tick 200");
        });
        let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 20;
        while !probe.text().contains("GET /tick 200") {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
