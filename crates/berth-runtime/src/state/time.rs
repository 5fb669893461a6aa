//! RFC 3339 timestamps (UTC, nanoseconds) from `SystemTime`, without a date crate.
//!
//! The `created` field of the OCI state and every log line carry one, in the same shape Go's
//! `time.RFC3339Nano` parses: `2026-11-22T06:33:01.123456789Z`. We always print nine fraction
//! digits so the strings sort lexically in time order.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time, e.g. `2026-11-22T06:33:01.123456789Z`.
pub fn now_rfc3339() -> String {
    format_rfc3339(SystemTime::now())
}

/// Format `t` as RFC 3339 UTC with nanoseconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    // Split into whole seconds (floored, possibly negative) and a non-negative nanosecond part.
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            match d.subsec_nanos() {
                0 => (-(d.as_secs() as i64), 0),
                n => (-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
            }
        }
    };
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days` (http://howardhinnant.github.io/date_algorithms.html): shift
/// the epoch to 0000-03-01 so the leap day is the last day of the (March-based) year, then split
/// into 400-year eras of 146097 days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> String {
        format_rfc3339(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            at(1_709_251_199, 999_999_999),
            "2024-02-29T23:59:59.999999999Z"
        );
        // 2026-11-22T06:33:01.123456789Z, the example in the brief.
        assert_eq!(
            at(1_795_329_181, 123_456_789),
            "2026-11-22T06:33:01.123456789Z"
        );
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000000Z");
    }

    #[test]
    fn formats_instants_before_the_epoch() {
        let t = UNIX_EPOCH - Duration::new(1, 500_000_000);
        assert_eq!(format_rfc3339(t), "1969-12-31T23:59:58.500000000Z");
    }

    #[test]
    fn now_has_the_rfc3339_nano_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), "2026-11-22T06:33:01.123456789Z".len(), "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }
}
