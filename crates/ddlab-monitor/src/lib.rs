//! ddlab-monitor: monitors as pure logic, with `now` always passed in.
//!
//! So far: metric monitor queries (`query`), the notification message template language (`template`),
//! both parsed with located errors, and `@handle` mentions (`mentions`). State evaluation and downtime schedules build on them.

pub mod mentions;
pub mod query;
pub mod template;
