//! Summaries of samples, and numbers printed with a sensible count of digits.

use std::time::Duration;

/// The `q`-quantile (0..=1) of sorted values, by nearest rank; `T::default()` when empty.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some values (sorted in place).
pub fn median<T: Copy + Default + PartialOrd>(values: &mut [T]) -> T {
    values.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    quantile(values, 0.5)
}

/// The mean of some values; NaN when there are none.
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Microseconds in a duration, as a float.
pub fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Milliseconds in a duration, as a float.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A number with a sensible count of digits: none from 100 up or for whole numbers, one from
/// 10, two below; `-` for a number that is not finite.
pub fn number(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() {
        "-".to_owned()
    } else if magnitude >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.01 || value == 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(quantile(&values, 0.5), 5);
        assert_eq!(quantile(&values, 0.95), 10);
        assert_eq!(quantile(&values, 0.0), 1);
        assert_eq!(quantile::<u32>(&[], 0.5), 0);
        let mut durations = [Duration::from_millis(3), Duration::from_millis(1)];
        assert_eq!(median(&mut durations), Duration::from_millis(1));
        let mut floats = [3.0, f64::NAN, 1.0, 2.0];
        let _ = median(&mut floats);
    }

    #[test]
    fn numbers_keep_a_few_digits() {
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.0012), "1.2e-3");
        assert_eq!(number(f64::NAN), "-");
        assert!(mean(&[]).is_nan());
        assert_eq!(mean(&[1.0, 3.0]), 2.0);
    }
}
