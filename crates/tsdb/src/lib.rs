//! Strata's embedded time-series engine (being written).

pub mod chunk;
