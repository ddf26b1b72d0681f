//! The trainer: BPTT + Adam (Keras legacy decay) with ndarray.
//!
//! CONTRACT (owned by the model helper):
//! - `NumpyRandomState::seed(u32)`, `.choice(n) -> usize` (MT19937 + masked rejection, as NumPy legacy).
//! - `TrainConfig` (seed defaults), `train(corpus_indices: &[usize], vocab: Vec<Value>, &TrainConfig,
//!    on_epoch: impl FnMut(&EpochStats)) -> Result<(Model, TrainReport), TrainError>`.
