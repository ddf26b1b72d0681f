//! Held-out evaluation: how well a model predicts values it was not trained on, against the
//! simplest baseline (each value as often as it occurs in the training part, whatever came
//! before). A model that has learned something about sequences beats the baseline; one that
//! only memorised its windows does not.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::lstm::{LstmParams, Model, Provenance, Validation};
use crate::music::grammar::Value;
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

/// What [`train_validated`] returns besides the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedReport {
    pub report: TrainReport,
    /// The epoch (1-based) whose weights the model has: the one with the lowest held-out loss,
    /// or the last when nothing was held out.
    pub kept_epoch: usize,
    /// Why training ended.
    pub ended: Ended,
}

/// Why [`train_validated`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every epoch asked for ran.
    AllEpochs,
    /// The held-out loss did not improve for `patience` epochs.
    Patience,
    /// The `stop` flag was set (Ctrl-C): the weights are the best so far.
    Interrupted,
}

/// When [`train_validated`] stops early.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stopping<'a> {
    /// Stop when the held-out loss has not improved for this many epochs.
    pub patience: Option<usize>,
    /// Stop when this is set: checked between batches, so the epoch running ends early and the
    /// best weights of the epochs before it are kept.
    pub stop: Option<&'a AtomicBool>,
}

/// [`crate::train::train`] on `train_part`, scoring the model on `held_out` after every epoch
/// (skipped when `held_out` has fewer than 2 values). `on_epoch` sees each epoch's statistics
/// and validation. The model returned has the weights of the epoch with the lowest held-out
/// loss (early stopping: later epochs only memorised the training part better), and its
/// provenance records that epoch's loss, accuracy and validation.
pub fn train_validated(
    train_part: &[usize],
    held_out: &[usize],
    vocab: Vec<Value>,
    config: &TrainConfig,
    stopping: Stopping,
    mut on_epoch: impl FnMut(&EpochStats, Option<&Validation>),
) -> Result<(Model, ValidatedReport), TrainError> {
    let mut trainer = Trainer::new(train_part, vocab.len(), config)?;
    if let Some(flag) = stopping.stop {
        trainer.stop_when(flag);
    }
    // (validation, params, epoch statistics) of the best epoch so far.
    let mut best: Option<(Validation, LstmParams, EpochStats)> = None;
    let mut ended = Ended::AllEpochs;
    let interrupted = || stopping.stop.is_some_and(|s| s.load(Ordering::SeqCst));
    for _ in 0..config.epochs {
        if interrupted() {
            ended = Ended::Interrupted;
            break;
        }
        let stats = match trainer.epoch() {
            Err(TrainError::Interrupted) => {
                ended = Ended::Interrupted;
                break;
            }
            other => other?,
        };
        let mut validation = None;
        if held_out.len() >= 2 {
            let params = trainer.params();
            let mut model = Model::new(params.clone(), vocab.clone(), Provenance::default())
                .map_err(TrainError::Model)?;
            validation = validate(&mut model, train_part, held_out, config.tx);
            if let Some(v) = validation {
                if best.as_ref().is_none_or(|(b, ..)| v.nll < b.nll) {
                    best = Some((v, params, stats.clone()));
                }
            }
        }
        on_epoch(&stats, validation.as_ref());
        let since_best = best.as_ref().map_or(0, |(_, _, b)| stats.epoch - b.epoch);
        if stopping.patience.is_some_and(|p| since_best >= p) {
            ended = Ended::Patience;
            break;
        }
    }
    if trainer.epochs_run() == 0 {
        return Err(TrainError::Interrupted);
    }
    let (model, report) = trainer.finish(vocab.clone())?;
    let Some((validation, params, stats)) = best else {
        let kept_epoch = report.epochs.len();
        return Ok((
            model,
            ValidatedReport {
                report,
                kept_epoch,
                ended,
            },
        ));
    };
    let mut provenance = model.provenance().clone();
    provenance.validation = Some(validation);
    provenance.final_loss = Some(stats.loss as f32);
    provenance.final_accuracy = Some(stats.accuracy as f32);
    provenance
        .hyperparameters
        .insert("kept_epoch".into(), stats.epoch.into());
    let model = Model::new(params, vocab, provenance).map_err(TrainError::Model)?;
    Ok((
        model,
        ValidatedReport {
            report,
            kept_epoch: stats.epoch,
            ended,
        },
    ))
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
