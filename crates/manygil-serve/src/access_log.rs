//! One line per request on stderr (or to the configured sink), in the common log format
//! plus the duration.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::request::Peer;

/// Write `host - - [date] "METHOD target VERSION" status bytes duration` to stderr, or
/// hand it (without the newline) to `sink`.
pub(crate) fn write(
    sink: Option<&crate::AccessLogSink>,
    peer: &Peer,
    request_line: (&str, &str, &str),
    status: u16,
    bytes: Option<usize>,
    took: Duration,
) {
    let host = match peer {
        Peer::Tcp(a) => a.ip().to_string(),
        Peer::Unix(_) => "unix".to_owned(),
    };
    let (method, target, version) = request_line;
    let bytes = bytes.map_or_else(|| "-".to_owned(), |b| b.to_string());
    let mut line = format!(
        "{host} - - [{}] \"{method} {target} {version}\" {status} {bytes} {:.3}ms",
        clf_date(SystemTime::now()),
        took.as_secs_f64() * 1e3
    );
    if let Some(sink) = sink {
        return (sink.0)(line);
    }
    line.push('\n');
    // One write call per line so lines from several threads do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `01/Dec/2026:23:59:00 +0000` (UTC).
fn clf_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(clf_date(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_169_540); // 2026-12-01 23:59:00
        assert_eq!(clf_date(t), "01/Dec/2026:23:59:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(clf_date(leap), "29/Feb/2000:00:00:00 +0000");
    }
}
