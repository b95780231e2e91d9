//! ddlab-monitor: monitors as pure logic, with `now` always passed in.
//!
//! So far: metric monitor queries (`query`) and the notification message template language (`template`),
//! both parsed with located errors. State evaluation and downtime schedules build on them.

pub mod query;
pub mod template;
