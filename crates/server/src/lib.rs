//! The `strata` server (being written).

pub mod api;
