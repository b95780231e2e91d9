//! Helpers shared by the integration tests.

pub mod backend;
pub mod mariadb;
pub mod poll;
pub mod test_agent;
