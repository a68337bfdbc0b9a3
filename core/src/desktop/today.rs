//! "Requests today" for the tray's status line: usage records since local midnight. A store
//! query run when the tray asks, never on the relay's hot path.

use chrono::{DateTime, Local, LocalResult, NaiveDate, TimeZone};

use super::DesktopError;
use crate::state::AppState;
use crate::store::usage;

/// How many requests were recorded since midnight in the machine's time zone. Records still in
/// the recorder's queue (at most `usage.batch_max_delay_ms` old) are not counted yet.
pub async fn requests_today(state: &AppState) -> Result<u64, DesktopError> {
    let since = local_midnight(&Local::now()).timestamp_millis();
    Ok(state
        .store
        .read(move |c| usage::count_since(c, since))
        .await?)
}

/// The start of `now`'s day in `now`'s time zone. Where a daylight-saving jump skips midnight,
/// the day starts at the first instant that exists after it.
fn local_midnight<Tz: TimeZone>(now: &DateTime<Tz>) -> DateTime<Tz> {
    let zone = now.timezone();
    let day: NaiveDate = now.date_naive();
    let mut candidate = day.and_time(chrono::NaiveTime::MIN);
    // A gap is at most a few hours; step a quarter hour at a time until a time exists.
    for _ in 0..(24 * 4) {
        match zone.from_local_datetime(&candidate) {
            LocalResult::Single(at) => return at,
            LocalResult::Ambiguous(earliest, _) => return earliest,
            LocalResult::None => candidate += chrono::Duration::minutes(15),
        }
    }
    now.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Timelike};

    #[test]
    fn midnight_is_the_start_of_the_local_day() {
        let zone = FixedOffset::east_opt(5 * 3600 + 1800).expect("offset");
        let now = zone
            .with_ymd_and_hms(2026, 3, 9, 0, 20, 0)
            .single()
            .expect("time");
        let midnight = local_midnight(&now);
        assert_eq!((midnight.hour(), midnight.minute()), (0, 0), "{midnight}");
        assert_eq!(midnight.date_naive(), now.date_naive());
        assert_eq!((now - midnight).num_minutes(), 20);
    }
}
