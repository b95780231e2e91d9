//! In-process tests of the dashboard routes.
