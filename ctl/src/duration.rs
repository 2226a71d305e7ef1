//! Readable durations (`3m12s`, `2d4h`) and UTC times, without a
//! calendar crate.

/// A duration in seconds in its two largest units: `45s`, `3m12s`,
/// `1h5m`, `2d4h`; a zero second unit is left out (`3m`, `2d`).
pub fn duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    for (i, (size, name)) in UNITS.iter().enumerate() {
        if secs >= *size || *size == 1 {
            let major = secs / size;
            let rest = secs % size;
            let mut text = format!("{major}{name}");
            if let Some((next, next_name)) = UNITS.get(i + 1) {
                let minor = rest / next;
                if minor > 0 {
                    text.push_str(&format!("{minor}{next_name}"));
                }
            }
            return text;
        }
    }
    "0s".to_string()
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic
/// Gregorian calendar (the usual era-based conversion: 400-year eras of
/// 146097 days, years starting in March so that leap days come last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Unix seconds as `2026-11-30 02:13:20 UTC`.
pub fn utc(unix_secs: u64) -> String {
    let secs = i64::try_from(unix_secs).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

/// Unix milliseconds as `02:13:20.123` (the time of day, UTC), for the
/// lines of `twillctl watch`.
pub fn time_of_day_ms(unix_ms: u64) -> String {
    let of_day = unix_ms % 86_400_000;
    let secs = of_day / 1_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60,
        of_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(60), "1m");
        assert_eq!(duration(192), "3m12s");
        assert_eq!(duration(3_900), "1h5m");
        assert_eq!(duration(3_659), "1h");
        assert_eq!(duration(187_320), "2d4h");
        assert_eq!(duration(86_400 * 400 + 59), "400d");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_900_000), "2026-11-28 21:06:40 UTC");
        assert_eq!(utc(4_107_542_399), "2100-02-28 23:59:59 UTC");
        assert_eq!(time_of_day_ms(1_795_900_000_123), "21:06:40.123");
    }
}
