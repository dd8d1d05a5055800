//! Latency histograms (HdrHistogram, microseconds) and their summary in milliseconds.
//! Recording happens in the workload's threads; this module only shapes the numbers.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies up to one hour, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds that hdrhistogram accepts")
}

/// Records one latency, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.max(1));
}

/// The percentiles a report shows, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }

    /// (label, value) pairs in the order reports show them.
    pub fn points(&self) -> [(&'static str, f64); 5] {
        [("p50", self.p50), ("p95", self.p95), ("p99", self.p99), ("p99.9", self.p999), ("max", self.max)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_known_distribution() {
        let mut h = histogram();
        // 1..=1000 ms, one sample each: p50 = 500 ms, p99 = 990 ms, max = 1000 ms.
        for ms in 1..=1000u64 {
            record(&mut h, ms * 1000);
        }
        let s = Summary::of(&h);
        assert_eq!(s.count, 1000);
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
        assert!(close(s.p50, 500.0), "{s:?}");
        assert!(close(s.p95, 950.0), "{s:?}");
        assert!(close(s.p99, 990.0), "{s:?}");
        assert!(close(s.p999, 999.0), "{s:?}");
        assert!(close(s.max, 1000.0), "{s:?}");
    }

    #[test]
    fn out_of_range_samples_are_clamped_not_lost() {
        let mut h = histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(Summary::of(&h).count, 2);
    }

    #[test]
    fn empty_histogram_summarises_to_zeros() {
        assert_eq!(Summary::of(&histogram()), Summary::default());
    }
}
