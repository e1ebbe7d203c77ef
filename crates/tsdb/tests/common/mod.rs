//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::time::Duration;
use strata_core::{Labels, MetricMetadata, Sample, WriteBatch};
use strata_tsdb::Options;

/// Options for tests: no retention, no background work unless asked for.
pub fn options() -> Options {
    Options {
        retention: None,
        maintenance_interval: Duration::from_secs(3600),
        ..Options::default()
    }
}

pub fn labels(name: &str, job: &str) -> Labels {
    Labels::new([("__name__", name), ("job", job)]).unwrap()
}

pub fn batch(samples: &[(&Labels, i64, f64)]) -> WriteBatch {
    WriteBatch {
        samples: samples
            .iter()
            .map(|(l, t, v)| Sample {
                labels: (*l).clone(),
                t: *t,
                v: *v,
            })
            .collect(),
        metadata: Vec::<MetricMetadata>::new(),
    }
}
