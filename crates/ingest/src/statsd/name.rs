//! Turning StatsD names and tag keys into Prometheus names, as statsd_exporter does.

/// Appends `raw` to `out` as a valid Prometheus metric or label name: every character
/// other than ASCII letters, digits and `_` becomes `_` (so `.` and `-` do too), and a
/// leading digit gets a `_` prefix. `service.response-time` → `service_response_time`.
fn sanitize_into(raw: &str, out: &mut String) {
    if raw.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(raw.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
}

pub(crate) fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    sanitize_into(raw, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn statsd_exporter_conventions() {
        for (raw, want) in [
            ("system.cpu.usage", "system_cpu_usage"),
            ("a-b c", "a_b_c"),
            ("9lives", "_9lives"),
            ("ünïcode", "_n_code"),
            ("ok_name", "ok_name"),
        ] {
            assert_eq!(sanitize(raw), want);
        }
    }

    proptest! {
        #[test]
        fn always_valid(raw in "\\PC{1,20}") {
            let s = sanitize(&raw);
            prop_assert!(strata_core::is_valid_metric_name(&s));
            prop_assert!(strata_core::is_valid_label_name(&s));
        }
    }
}
