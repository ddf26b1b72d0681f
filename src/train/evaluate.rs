//! Held-out evaluation: how well a model predicts values it was not trained on, against the
//! simplest baseline (each value as often as it occurs in the training part, whatever came
//! before). A model that has learned something about sequences beats the baseline; one that
//! only memorised its windows does not.

use std::path::Path;

use crate::model::lstm::{Model, Provenance, Validation};
use crate::music::grammar::Value;
use crate::train::corpus::{self, Preset, SourceFile};
use crate::train::{EpochStats, TrainConfig, TrainError, TrainReport, Trainer};

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

/// Values each file of a corpus gave, in the corpus's order, read again with `preset`; `None`
/// when a file can no longer be read (it changed since).
pub fn file_lengths(sources: &[SourceFile], preset: &Preset) -> Option<Vec<usize>> {
    sources
        .iter()
        .map(|s| {
            corpus::load(Path::new(&s.path), preset)
                .ok()
                .map(|c| c.values.len())
        })
        .collect()
}

/// [`crate::train::train`] on `train_part`, scoring the model on `held_out` after every epoch
/// (skipped when `held_out` is empty). `on_epoch` sees each epoch's statistics and
/// validation; the model's provenance records the last validation.
pub fn train_validated(
    train_part: &[usize],
    held_out: &[usize],
    vocab: Vec<Value>,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats, Option<&Validation>),
) -> Result<(Model, TrainReport), TrainError> {
    let mut trainer = Trainer::new(train_part, vocab.len(), config)?;
    let mut last = None;
    for _ in 0..config.epochs {
        let stats = trainer.epoch()?;
        if held_out.len() >= 2 {
            let mut model = Model::new(trainer.params(), vocab.clone(), Provenance::default())
                .map_err(TrainError::Model)?;
            last = validate(&mut model, train_part, held_out, config.tx);
        }
        on_epoch(&stats, last.as_ref());
    }
    let (mut model, report) = trainer.finish(vocab)?;
    let mut provenance = model.provenance().clone();
    provenance.validation = last;
    model.set_provenance(provenance);
    Ok((model, report))
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
