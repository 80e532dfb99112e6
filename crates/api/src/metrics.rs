//! Just enough of the Prometheus text format (version 0.0.4) for the hub's counters, gauges
//! and latency histograms, without a metrics framework: the figures already live in atomics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets: 100 µs to 10 s.
pub const LATENCY_BOUNDS: [f64; 12] = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0];

/// A latency histogram with fixed buckets, safe to update from any thread.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = LATENCY_BOUNDS.iter().position(|b| secs <= *b)
            && let Some(b) = self.buckets.get(i)
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Builds one exposition text.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))).collect();
    format!("{{{}}}", inner.join(","))
}

impl Exposition {
    /// Adds a counter family with one sample per label set.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(&[(&str, &str)], u64)]) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} counter");
        for (l, v) in samples {
            let _ = writeln!(self.text, "{name}{} {v}", labels(l));
        }
        self
    }

    /// Adds a gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        self
    }

    /// Adds a histogram (cumulative buckets, as the format wants).
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, b) in LATENCY_BOUNDS.iter().zip(&h.buckets) {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(self.text, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(self.text, "{name}_sum {}", h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9);
        let _ = writeln!(self.text, "{name}_count {count}");
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut e = Exposition::default();
        e.histogram("x_seconds", "test", &h).counter("y_total", "test", &[(&[("k", "a\"b")], 2)]);
        let text = e.finish();
        assert!(text.contains("x_seconds_bucket{le=\"0.0001\"} 1\n"));
        assert!(text.contains("x_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("x_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("y_total{k=\"a\\\"b\"} 2\n"));
    }
}
