//! Numeric building blocks shared by functions and aggregations, with the exact
//! float semantics Prometheus uses (Kahan–Neumaier sums, NaN ordering, Go's min/max).

use strata_core::Point;

/// One step of Kahan–Neumaier summation: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    if t.is_infinite() {
        return (t, 0.0);
    }
    // A select rather than two branches: which operand is larger is unpredictable for
    // real data, and a mispredicted branch costs more than the whole step.
    let (big, small) = if sum.abs() >= inc.abs() {
        (sum, inc)
    } else {
        (inc, sum)
    };
    (t, c + ((big - t) + small))
}

/// A compensated sum.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    pub fn add(&mut self, x: f64) {
        (self.sum, self.c) = kahan_inc(x, self.sum, self.c);
    }

    pub fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// A mean as Prometheus computes `avg` and `avg_over_time`: a compensated sum divided
/// by the count while the sum stays finite, switching to an incremental mean once the
/// sum would overflow.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mean {
    sum: f64,
    c: f64,
    mean: f64,
    count: f64,
    incremental: bool,
}

impl Mean {
    pub fn add(&mut self, x: f64) {
        self.count += 1.0;
        if !self.incremental {
            let (sum, c) = kahan_inc(x, self.sum, self.c);
            if self.count == 1.0 || !sum.is_infinite() {
                (self.sum, self.c) = (sum, c);
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.c /= self.count - 1.0;
        }
        if self.mean.is_infinite() {
            // An infinite mean stays as it is unless an opposite infinity or a NaN arrives.
            if x.is_infinite() && (self.mean > 0.0) == (x > 0.0) {
                return;
            }
            if !x.is_infinite() && !x.is_nan() {
                return;
            }
        }
        let corrected = self.mean + self.c;
        (self.mean, self.c) = kahan_inc(x / self.count - corrected / self.count, self.mean, self.c);
    }

    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.c
        } else {
            (self.sum + self.c) / self.count
        }
    }
}

/// Welford's running variance with compensated sums, as Prometheus's `stdvar`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Variance {
    count: f64,
    mean: f64,
    c_mean: f64,
    aux: f64,
    c_aux: f64,
}

impl Variance {
    pub fn add(&mut self, x: f64) {
        self.count += 1.0;
        let delta = x - (self.mean + self.c_mean);
        (self.mean, self.c_mean) = kahan_inc(delta / self.count, self.mean, self.c_mean);
        (self.aux, self.c_aux) = kahan_inc(
            delta * (x - (self.mean + self.c_mean)),
            self.aux,
            self.c_aux,
        );
    }

    pub fn value(&self) -> f64 {
        (self.aux + self.c_aux) / self.count
    }
}

/// Go's `math.Max`: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Orders floats ascending with NaN first, as Prometheus's value heaps do.
pub(crate) fn nan_first(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// The φ-quantile of `values` (reordered in place), interpolating between ranks; φ
/// outside [0, 1] gives ±Inf and NaN gives NaN, as Prometheus.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// The warning Prometheus gives for a quantile outside [0, 1].
pub(crate) fn quantile_warning(q: f64) -> Option<String> {
    (!(0.0..=1.0).contains(&q)).then(|| {
        format!(
            "PromQL warning: quantile value should be between 0 and 1, got {}",
            format_float(q)
        )
    })
}

/// Least-squares slope and intercept of `points`, with x in seconds relative to
/// `intercept_time`.
pub(crate) fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut sy, mut sxy, mut sx2) = (
        0.0,
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
        KahanSum::default(),
    );
    let init = points[0].v;
    let mut const_y = true;
    for p in points {
        const_y &= p.v == init;
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        sx.add(x);
        sy.add(p.v);
        sxy.add(x * p.v);
        sx2.add(x * x);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (
        sx.sum + sx.c,
        sy.sum + sy.c,
        sxy.sum + sxy.c,
        sx2.sum + sx2.c,
    );
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` does (the label value
/// `count_values` writes).
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// Prometheus's relative float comparison.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kahan_keeps_small_terms() {
        let mut s = KahanSum::default();
        for x in [1e100, 1.0, -1e100] {
            s.add(x);
        }
        assert_eq!(s.value(), 1.0);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(0.5, &mut [1.0, 3.0, 2.0, 4.0]), 2.5);
        assert_eq!(quantile(2.0, &mut [1.0]), f64::INFINITY);
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }
}
