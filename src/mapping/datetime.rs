//! The few date conversions the mapping needs: SCIM `dateTime`
//! (xsd:dateTime, any offset) to and from Drupal's `datetime` storage
//! (`YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` in UTC), and RFC 3339 to the Unix
//! seconds Drupal's JSON:API filters compare timestamps with.

/// A calendar date with an optional time of day and UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    year: i64,
    month: u32,
    day: u32,
    /// Seconds since local midnight, when a time was given.
    time: Option<i64>,
    /// Seconds east of UTC; a missing offset means UTC.
    offset: i64,
}

impl Parsed {
    fn epoch_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400 + self.time.unwrap_or(0)
            - self.offset
    }
}

/// `2024-05-01` from `2024-05-01` or `2024-05-01T23:30:00+02:00`: the date
/// as written, without shifting it to UTC (a birthday is not an instant).
pub(super) fn drupal_date(text: &str) -> Option<String> {
    let p = parse(text)?;
    Some(format!("{:04}-{:02}-{:02}", p.year, p.month, p.day))
}

/// `2024-05-01T21:30:00` (UTC) from any xsd:dateTime or date.
pub(super) fn drupal_datetime(text: &str) -> Option<String> {
    let (date, time) = utc_parts(parse(text)?.epoch_seconds());
    Some(format!("{date}T{time}"))
}

/// `2024-05-01T21:30:00Z` from what Drupal stores or returns.
pub(super) fn scim_datetime(text: &str) -> Option<String> {
    let (date, time) = utc_parts(parse(text)?.epoch_seconds());
    Some(format!("{date}T{time}Z"))
}

/// Unix seconds of an RFC 3339 instant.
pub(super) fn epoch_seconds(text: &str) -> Option<i64> {
    parse(text).map(|p| p.epoch_seconds())
}

fn utc_parts(epoch: i64) -> (String, String) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        ),
    )
}

fn parse(text: &str) -> Option<Parsed> {
    let text = text.trim();
    let year = number(text.get(0..4)?)?;
    let month = u32::try_from(number(text.get(5..7)?)?).ok()?;
    let day = u32::try_from(number(text.get(8..10)?)?).ok()?;
    if text.get(4..5)? != "-" || text.get(7..8)? != "-" {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let rest = text.get(10..)?;
    if rest.is_empty() {
        return Some(Parsed {
            year,
            month,
            day,
            time: None,
            offset: 0,
        });
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, zone) = split_zone(rest);
    Some(Parsed {
        year,
        month,
        day,
        time: Some(clock_seconds(clock)?),
        offset: zone_seconds(zone)?,
    })
}

/// `12:30:00.5` and `+02:00` from `12:30:00.5+02:00`.
fn split_zone(rest: &str) -> (&str, &str) {
    match rest.find(['Z', 'z', '+', '-']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    }
}

fn clock_seconds(clock: &str) -> Option<i64> {
    let clock = clock.split('.').next()?;
    let mut parts = clock.split(':');
    let hour = number(parts.next()?)?;
    let minute = number(parts.next()?)?;
    let second = parts.next().map_or(Some(0), number)?;
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second)
}

fn zone_seconds(zone: &str) -> Option<i64> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone.get(1..)?.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    let hours = number(digits.get(0..2)?)?;
    let minutes = number(digits.get(2..4)?)?;
    Some(sign * (hours * 3600 + minutes * 60))
}

fn number(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's civil-calendar algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_datetime_with_an_offset_becomes_drupal_utc_across_midnight() {
        assert_eq!(
            drupal_datetime("2024-03-01T01:30:00+02:00").as_deref(),
            Some("2024-02-29T23:30:00")
        );
    }

    #[test]
    fn drupal_date_keeps_the_written_date_and_drops_the_time() {
        assert_eq!(
            drupal_date("2024-03-01T01:30:00+02:00").as_deref(),
            Some("2024-03-01")
        );
        assert_eq!(drupal_date("1990-02-30"), None);
    }

    #[test]
    fn scim_datetime_reads_drupal_storage_and_rfc3339_with_fractions() {
        assert_eq!(
            scim_datetime("2024-05-01T10:00:00").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            scim_datetime("2024-05-01T10:00:00.250-01:30").as_deref(),
            Some("2024-05-01T11:30:00Z")
        );
    }

    #[test]
    fn epoch_seconds_match_the_unix_clock() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            epoch_seconds("2026-11-28T11:50:57+00:00"),
            Some(1_795_866_657)
        );
        assert_eq!(epoch_seconds("not a date"), None);
    }
}
