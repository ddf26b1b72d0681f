//! Held-out evaluation: how well a model predicts values it was not trained on, against the
//! simplest baseline (each value as often as it occurs in the training part, whatever came
//! before). A model that has learned something about sequences beats the baseline; one that
//! only memorised its windows does not.

use crate::model::lstm::{Model, Validation};

/// Probabilities below this count as this, so one impossible target does not make the mean
/// infinite.
const MIN_PROB: f64 = 1e-12;

/// Scores `model` on `held_out` (vocabulary indices), cut into consecutive windows of `tx`
/// values treated like training windows: from a zero state with an all-zero first input, value
/// `t` of a window predicts value `t + 1`. `train` (indices) gives the unigram baseline.
/// `None` when the held-out part has no target (fewer than 2 values).
pub fn validate(
    model: &mut Model,
    train: &[usize],
    held_out: &[usize],
    tx: usize,
) -> Option<Validation> {
    let n_values = model.n_values();
    let mut counts = vec![0u64; n_values];
    for &i in train {
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    let total = train.len() as f64 + n_values as f64;
    let unigram = |i: usize| (counts.get(i).copied().unwrap_or(0) as f64 + 1.0) / total;

    let (mut values, mut nll, mut unigram_nll, mut hits) = (0usize, 0.0, 0.0, 0usize);
    for window in held_out.chunks(tx.max(2)) {
        model.reset();
        let mut input = None;
        for t in 0..window.len() - 1 {
            let probs = model.step(input);
            let target = window[t + 1];
            let p = f64::from(probs.get(target).copied().unwrap_or(0.0));
            nll -= p.max(MIN_PROB).ln();
            unigram_nll -= unigram(target).ln();
            hits += usize::from(crate::model::lstm::argmax(probs) == target);
            values += 1;
            input = Some(window[t + 1]);
        }
    }
    model.reset();
    (values > 0).then(|| Validation {
        values,
        nll: nll / values as f64,
        unigram_nll: unigram_nll / values as f64,
        accuracy: hits as f64 / values as f64,
    })
}

/// Where the held-out part starts, for corpora of `file_lengths` values per file: the last
/// `share` of the files (at least one, and never all), or for a single file its last `share`
/// of values. Returns the value index the validation part starts at; `None` for no split
/// (share 0, or nothing left to train on).
pub fn split_point(file_lengths: &[usize], share: f64) -> Option<usize> {
    if !(share > 0.0 && share < 1.0) {
        return None;
    }
    let total: usize = file_lengths.iter().sum();
    let at = if file_lengths.len() >= 2 {
        let held =
            ((file_lengths.len() as f64 * share).round() as usize).clamp(1, file_lengths.len() - 1);
        file_lengths[..file_lengths.len() - held].iter().sum()
    } else {
        total - (total as f64 * share).round() as usize
    };
    (at > 0 && at < total).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_held_out_whole_and_a_single_file_by_its_tail() {
        assert_eq!(split_point(&[100], 0.1), Some(90));
        assert_eq!(split_point(&[10; 20], 0.1), Some(180));
        assert_eq!(split_point(&[10, 30], 0.1), Some(10)); // at least one file
        assert_eq!(split_point(&[10; 20], 0.0), None);
        assert_eq!(split_point(&[1], 0.1), None);
    }
}
