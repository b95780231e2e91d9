//! ddlab-monitor: monitors as pure logic, with `now` always passed in.
//!
//! - `query`: metric monitor queries (`avg(last_5m):avg:my_metric{host:a} > 800`), with located errors.
//! - `definition`: thresholds checked against the query with Datadog's messages; unknown message variables.
//! - `state`: reading a monitor's window and moving its groups through OK, Warn, Alert and No Data.
//! - `template`: the notification message language; `notify`: titles, rendered messages, webhook variables.
//! - `mentions`: `@handles` and the channel each names.
//! - `schedule`: downtime schedules (one-time, v1 recurrences, v2 RRULE in a time zone), DST-correct;
//!   `downtime`: which monitors and groups a downtime mutes.
//!
//! **Invariant:** no IO, no clock, no randomness: data comes through `ddlab_query::Source`, time as `now`.

pub mod definition;
pub mod downtime;
pub mod mentions;
pub mod notify;
pub mod query;
pub mod schedule;
pub mod state;
pub mod template;
