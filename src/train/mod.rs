//! The trainer: BPTT + Adam (Keras legacy decay) with ndarray.
//!
//! In short:
//! - `NumpyRandomState::seed(u32)`, `.choice(n) -> usize` (MT19937 + masked rejection, as NumPy legacy).
//! - `TrainConfig` (seed defaults), `train(corpus_indices: &[usize], vocab: Vec<Value>, &TrainConfig,
//!    on_epoch: impl FnMut(&EpochStats)) -> Result<(Model, TrainReport), TrainError>`.
//!
//! # What is reproduced, and how
//!
//! **Data** exactly as the Coursera `data_processing`: `np.random.seed(seed)`,
//! then for each of the `m` windows `start = np.random.choice(len(corpus) - Tx)`
//! and the window is `corpus[start .. start + Tx]`. At step `t` the input is
//! the one-hot of `window[t]`, except step 0 whose input is all zeros; the
//! target is `window[t + 1]`, except the last step whose target is all zeros.
//! (So `window[0]` is never seen: the original's quirk, kept.)
//!
//! **Network and loss** as `lstm` documents (same equations and layout). The
//! loss of a batch is what Keras minimises and prints: for each of the Tx
//! outputs the categorical cross-entropy averaged over the batch, summed over
//! the outputs. A zero target contributes 0 to the loss and its gradient.
//! The epoch loss is the batch losses averaged over samples, as Keras's
//! progress bar does; [`EpochStats::loss_per_value`] divides it by the
//! Tx − 1 outputs that have a target. Keras computes `log(clip(p, 1e-7))`;
//! we compute the exact log-softmax, which differs only where p < 1e-7.
//!
//! **Accuracy** is the fraction of real targets (the `m · (Tx − 1)` steps
//! that have one) where the most probable value (first maximum) is the
//! target. Keras would also count the zero target of the last step as a hit
//! whenever value 0 is predicted there; that is noise, so it is left out.
//!
//! **Initialisation** (Keras defaults): Glorot-uniform kernel and dense
//! kernel, orthogonal recurrent kernel (QR of a standard-normal matrix, signs
//! fixed so `diag(R) > 0`, transposed to `[H, 4H]`), zero biases with the
//! forget-gate bias at 1. **Randomness**: one `NumpyRandomState` seeded with
//! `seed` first draws the windows (so they are NumPy's), then the initial
//! weights (uniform from `random_sample`, normal from legacy `gauss`, kernel,
//! recurrent kernel, dense kernel in that order, row-major), then each
//! epoch's shuffle of the window order (NumPy's legacy `shuffle`). Keras drew
//! its weights from TensorFlow's generator, which cannot be reproduced here;
//! only the training set is bit-for-bit the original's.
//!
//! **Optimiser**: Adam as Keras 2's legacy optimiser with `decay`:
//! `lr_t = lr / (1 + decay · iterations) · sqrt(1 − β2^t) / (1 − β1^t)`,
//! `t = iterations + 1`, `ε = 1e-7`, one iteration per batch; batches of
//! `batch` windows in shuffled order (the seed's 60 windows make batches of
//! 32 and 28). The loss and accuracy of a batch are measured in its forward
//! pass, before its update, as Keras reports them.
//!
//! Training runs in f32 (as Keras); the gradient checks run the same code in
//! f64 (see [`Real`]). Everything runs on one thread in a fixed order, so the
//! same inputs give the same weights bit for bit on the same machine.
//! Another CPU may differ in the last bits (the matrix products pick AVX2 or
//! FMA kernels by what the CPU has).

pub mod corpus;
pub mod evaluate;
pub mod jazz;
pub mod lines;
pub mod ngram;
pub mod reference;
pub mod styles;

mod fused;
mod network;
mod numpy_rng;
mod panel;
mod trainer;

pub use fused::{forward_backward_fused, FusedWorkspace};
pub use network::{
    forward_backward, forward_backward_with, Batch, BatchResult, Network, Real, Workspace,
};
pub use numpy_rng::NumpyRandomState;
pub use trainer::{
    draw_window_starts, file_record, style_withheld, train, training_files, Adam, EpochStats,
    Kernel, TrainConfig, TrainError, TrainReport, Trainer, ADAM_EPSILON,
};
