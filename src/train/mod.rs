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
pub mod lines;

use crate::model::lstm::{LstmParams, Model, ModelError, Provenance, TrainingFile, Value};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, Array3, Axis, NdFloat};
use serde::Serialize;
use std::fmt;
use std::path::Path;

// ---------------------------------------------------------------------------
// NumPy's legacy RandomState
// ---------------------------------------------------------------------------

const MT_N: usize = 624;
const MT_M: usize = 397;

/// NumPy's legacy `RandomState`: MT19937 seeded by `init_genrand` (what
/// `np.random.seed(int)` does) and NumPy's legacy algorithms on top of it.
#[derive(Clone, Debug)]
pub struct NumpyRandomState {
    mt: [u32; MT_N],
    index: usize,
    /// Second value of the last polar Box-Muller pair (legacy `gauss`).
    cached_gauss: Option<f64>,
}

impl NumpyRandomState {
    /// `np.random.seed(seed)`.
    pub fn seed(seed: u32) -> NumpyRandomState {
        let mut mt = [0u32; MT_N];
        mt[0] = seed;
        for i in 1..MT_N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        NumpyRandomState {
            mt,
            index: MT_N,
            cached_gauss: None,
        }
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..MT_N {
            let y = (self.mt[i] & UPPER) | (self.mt[(i + 1) % MT_N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[i] = self.mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next raw 32-bit output of MT19937.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= MT_N {
            self.generate();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// Two 32-bit outputs, high word first (NumPy's `next_uint64`).
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        (hi << 32) | u64::from(self.next_u32())
    }

    /// `np.random.random_sample()`: uniform in `[0, 1)` with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    /// Uniform integer in `[0, max]` by masked rejection: draw, keep the bits
    /// below the smallest all-ones mask covering `max`, retry while above
    /// `max` (NumPy's legacy `random_interval` / bounded masked integers).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        if max <= 0xffff_ffff {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `np.random.choice(n)`: uniform in `[0, n)`. NumPy raises for `n = 0`;
    /// this returns 0 without drawing (as it does, drawing nothing, for `n = 1`).
    pub fn choice(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.interval(n as u64 - 1) as usize
    }

    /// `np.random.standard_normal()` of the legacy `RandomState` (polar
    /// Box-Muller, the second value of each pair cached).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.cached_gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `np.random.shuffle(items)` for a 1-D sequence (legacy Fisher-Yates,
    /// from the end).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration, statistics, errors
// ---------------------------------------------------------------------------

/// Training hyper-parameters. `Default` is the original's seed setup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Training windows drawn from the corpus (`m`).
    pub windows: usize,
    /// Time steps per window (`Tx`).
    pub tx: usize,
    /// LSTM hidden units (`n_a`).
    pub hidden: usize,
    /// Adam learning rate.
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    /// Keras legacy learning-rate decay per iteration (batch).
    pub decay: f64,
    pub epochs: usize,
    /// Windows per batch (Keras default 32).
    pub batch: usize,
    /// Seeds NumPy's `RandomState` (windows, initial weights, shuffles).
    pub seed: u32,
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            windows: 60,
            tx: 30,
            hidden: 64,
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            decay: 0.01,
            epochs: 100,
            batch: 32,
            seed: 0,
        }
    }
}

/// Adam's ε (Keras's `backend.epsilon()`).
pub const ADAM_EPSILON: f64 = 1e-7;

impl TrainConfig {
    /// Checks every setting; the message names the setting and the range.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |what: String| Err(TrainError::BadConfig(what));
        if self.windows == 0 {
            return bad("windows must be at least 1".into());
        }
        if self.tx < 2 {
            return bad(format!(
                "tx = {} is too short: a window needs at least 2 steps",
                self.tx
            ));
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return bad(format!("hidden = {} must be from 1 to 4096", self.hidden));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr = {} must be a positive number", self.lr));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} = {b} must be in [0, 1)"));
            }
        }
        if !(self.decay.is_finite() && self.decay >= 0.0) {
            return bad(format!(
                "decay = {} must be zero or a positive number",
                self.decay
            ));
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch == 0 {
            return bad("batch must be at least 1".into());
        }
        Ok(())
    }
}

/// Measurements of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Of this many.
    pub epochs: usize,
    /// Loss summed over the Tx outputs, averaged over windows (Keras's number).
    pub loss: f64,
    /// `loss` divided by the Tx − 1 outputs that have a target: the mean
    /// cross-entropy per predicted value, in nats.
    pub loss_per_value: f64,
    /// Fraction of predicted values that were right (see module docs).
    pub accuracy: f64,
    /// Learning rate after this epoch, before Adam's bias correction.
    pub learning_rate: f64,
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainReport {
    /// Every epoch's statistics, in order.
    pub epochs: Vec<EpochStats>,
    /// Window start indices drawn (NumPy's `np.random.choice` draws).
    pub window_starts: Vec<usize>,
    /// Fraction of training targets equal to the most frequent target value:
    /// the accuracy of always predicting it.
    pub baseline_accuracy: f64,
    pub corpus_len: usize,
    pub n_values: usize,
}

/// Why training cannot run (or stopped).
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    /// The corpus cannot fill one window.
    CorpusTooShort { len: usize, tx: usize },
    /// A corpus index is not a vocabulary index.
    IndexOutOfVocab {
        position: usize,
        index: usize,
        n_values: usize,
    },
    /// No vocabulary.
    EmptyVocab,
    /// A hyper-parameter is out of range.
    BadConfig(String),
    /// The loss or a weight became NaN or infinite.
    Diverged { epoch: usize },
    /// The trained weights could not form a model.
    Model(ModelError),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::CorpusTooShort { len, tx } => write!(
                f,
                "the corpus has {len} values, but windows of tx = {tx} need at least {} \
                 (use more or longer files, or a smaller --tx)",
                tx + 1
            ),
            TrainError::IndexOutOfVocab {
                position,
                index,
                n_values,
            } => write!(
                f,
                "corpus position {position} holds value index {index}, \
                 but the vocabulary has only {n_values} values"
            ),
            TrainError::EmptyVocab => write!(f, "the vocabulary is empty: nothing to learn"),
            TrainError::BadConfig(why) => write!(f, "bad training setting: {why}"),
            TrainError::Diverged { epoch } => write!(
                f,
                "training diverged at epoch {epoch} (the loss is no longer a number); \
                 try a smaller --lr"
            ),
            TrainError::Model(e) => write!(f, "the trained weights are unusable: {e}"),
        }
    }
}

impl std::error::Error for TrainError {}

/// Provenance records of a corpus's files: file name (without directories,
/// so the record does not depend on where the trainer ran) and SHA-256.
pub fn training_files(sources: &[crate::train::corpus::SourceFile]) -> Vec<TrainingFile> {
    sources
        .iter()
        .map(|s| TrainingFile {
            name: file_name(&s.path),
            sha256: s.sha256.clone(),
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Provenance record of a training file read from disk (as
/// [`training_files`] records a corpus's files).
pub fn file_record(path: &Path) -> std::io::Result<TrainingFile> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path)?;
    let digest = Sha256::digest(&bytes);
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(TrainingFile {
        name: file_name(path),
        sha256,
    })
}

// ---------------------------------------------------------------------------
// The network, generic over f32 (training) and f64 (gradient checks)
// ---------------------------------------------------------------------------

/// Floating-point type the trainer runs in. f32 (training) uses the
/// inference model's vectorizable approximations of e^x, σ and tanh (errors
/// ~1e-7, below f32's own rounding of the sums around them; libm's `tanhf`
/// alone took a third of an epoch); f64 (gradient checks) uses libm.
pub trait Real: NdFloat {
    /// Conversion from f64 (rounding for f32).
    fn of(x: f64) -> Self;
    fn exp_act(self) -> Self;
    fn sigmoid_act(self) -> Self;
    fn tanh_act(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn exp_act(self) -> f32 {
        crate::model::lstm::exp_approx(self)
    }
    #[inline(always)]
    fn sigmoid_act(self) -> f32 {
        crate::model::lstm::sigmoid_approx(self)
    }
    #[inline(always)]
    fn tanh_act(self) -> f32 {
        crate::model::lstm::tanh_approx(self)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn exp_act(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn sigmoid_act(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_act(self) -> f64 {
        self.tanh()
    }
}

/// Parameters (or their gradients, or Adam moments) in Keras layout, as the
/// `lstm` module documents: gate order i, f, g (cell), o.
#[derive(Clone, Debug, PartialEq)]
pub struct Network<F> {
    /// `[n, 4H]`
    pub kernel: Array2<F>,
    /// `[H, 4H]`
    pub recurrent_kernel: Array2<F>,
    /// `[4H]`
    pub bias: Array1<F>,
    /// `[H, n]`
    pub dense_kernel: Array2<F>,
    /// `[n]`
    pub dense_bias: Array1<F>,
}

impl<F: Real> Network<F> {
    /// All zeros.
    pub fn zeros(n_values: usize, hidden: usize) -> Network<F> {
        Network {
            kernel: Array2::zeros((n_values, 4 * hidden)),
            recurrent_kernel: Array2::zeros((hidden, 4 * hidden)),
            bias: Array1::zeros(4 * hidden),
            dense_kernel: Array2::zeros((hidden, n_values)),
            dense_bias: Array1::zeros(n_values),
        }
    }

    /// Keras's default initialisation (see the module docs), drawn from `rng`.
    pub fn keras_init(n_values: usize, hidden: usize, rng: &mut NumpyRandomState) -> Network<F> {
        let mut net = Network::zeros(n_values, hidden);
        glorot_uniform(&mut net.kernel, rng);
        let q = orthogonal(hidden, 4 * hidden, rng);
        net.recurrent_kernel = q.mapv(F::of);
        glorot_uniform(&mut net.dense_kernel, rng);
        net.bias
            .slice_mut(ndarray::s![hidden..2 * hidden])
            .fill(F::one());
        net
    }

    pub fn n_values(&self) -> usize {
        self.kernel.nrows()
    }

    pub fn hidden(&self) -> usize {
        self.recurrent_kernel.nrows()
    }

    /// The five buffers, flat, in the order kernel, recurrent kernel, bias,
    /// dense kernel, dense bias.
    pub fn buffers(&self) -> [&[F]; 5] {
        [
            self.kernel.as_slice().expect("standard layout"),
            self.recurrent_kernel.as_slice().expect("standard layout"),
            self.bias.as_slice().expect("standard layout"),
            self.dense_kernel.as_slice().expect("standard layout"),
            self.dense_bias.as_slice().expect("standard layout"),
        ]
    }

    /// Mutable [`Network::buffers`].
    pub fn buffers_mut(&mut self) -> [&mut [F]; 5] {
        [
            self.kernel.as_slice_mut().expect("standard layout"),
            self.recurrent_kernel
                .as_slice_mut()
                .expect("standard layout"),
            self.bias.as_slice_mut().expect("standard layout"),
            self.dense_kernel.as_slice_mut().expect("standard layout"),
            self.dense_bias.as_slice_mut().expect("standard layout"),
        ]
    }

    /// The parameters as the inference model stores them (f32).
    pub fn to_params(&self) -> LstmParams {
        let f = |b: &[F]| b.iter().map(|x| x.to_f32().unwrap_or(f32::NAN)).collect();
        let [k, r, b, dk, db] = self.buffers();
        LstmParams {
            n_values: self.n_values(),
            hidden: self.hidden(),
            kernel: f(k),
            recurrent_kernel: f(r),
            bias: f(b),
            dense_kernel: f(dk),
            dense_bias: f(db),
        }
    }

    /// A network from inference parameters.
    pub fn from_params(p: &LstmParams) -> Network<F> {
        let mut net = Network::zeros(p.n_values, p.hidden);
        let src = [
            &p.kernel,
            &p.recurrent_kernel,
            &p.bias,
            &p.dense_kernel,
            &p.dense_bias,
        ];
        for (dst, src) in net.buffers_mut().into_iter().zip(src) {
            for (d, &s) in dst.iter_mut().zip(src.iter()) {
                *d = F::of(f64::from(s));
            }
        }
        net
    }
}

fn glorot_uniform<F: Real>(w: &mut Array2<F>, rng: &mut NumpyRandomState) {
    let (fan_in, fan_out) = w.dim();
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    for x in w.iter_mut() {
        // np.random.uniform(-limit, limit) = low + (high - low) * random_sample()
        *x = F::of(-limit + 2.0 * limit * rng.random_sample());
    }
}

/// Keras `Orthogonal` for a `[rows, cols]` matrix with `rows ≤ cols`: QR of a
/// `[cols, rows]` standard-normal matrix, Q's columns sign-corrected so that
/// `diag(R) > 0`, transposed. Modified Gram-Schmidt (run twice for accuracy)
/// yields exactly that Q: it is the QR factor with a positive diagonal.
fn orthogonal(rows: usize, cols: usize, rng: &mut NumpyRandomState) -> Array2<f64> {
    let (tall, narrow) = (rows.max(cols), rows.min(cols));
    let mut a = Array2::<f64>::zeros((tall, narrow));
    for x in a.iter_mut() {
        *x = rng.standard_normal();
    }
    for j in 0..narrow {
        for _pass in 0..2 {
            for k in 0..j {
                let dot: f64 = (0..tall).map(|i| a[[i, k]] * a[[i, j]]).sum();
                for i in 0..tall {
                    a[[i, j]] -= dot * a[[i, k]];
                }
            }
        }
        let norm = (0..tall).map(|i| a[[i, j]] * a[[i, j]]).sum::<f64>().sqrt();
        if norm > 0.0 {
            for i in 0..tall {
                a[[i, j]] /= norm;
            }
        }
    }
    if rows < cols {
        a.reversed_axes().as_standard_layout().into_owned()
    } else {
        a
    }
}

/// A batch of windows, step-major: `inputs[t][b]` is the one-hot input index
/// of window `b` at step `t` (`None` = all-zero input), `targets[t][b]` its
/// target (`None` = all-zero target).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub inputs: Vec<Vec<Option<usize>>>,
    pub targets: Vec<Vec<Option<usize>>>,
}

impl Batch {
    /// The original's encoding of windows (see the module docs).
    pub fn from_windows(windows: &[&[usize]]) -> Batch {
        let tx = windows.first().map_or(0, |w| w.len());
        let inputs = (0..tx)
            .map(|t| windows.iter().map(|w| (t > 0).then(|| w[t])).collect())
            .collect();
        let targets = (0..tx)
            .map(|t| windows.iter().map(|w| w.get(t + 1).copied()).collect())
            .collect();
        Batch { inputs, targets }
    }

    pub fn tx(&self) -> usize {
        self.inputs.len()
    }

    pub fn size(&self) -> usize {
        self.inputs.first().map_or(0, Vec::len)
    }
}

/// Loss and accuracy counts of one forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchResult<F> {
    /// Σ over steps of the batch-mean cross-entropy (Keras's batch loss).
    pub loss: F,
    /// Targets predicted right (argmax, first maximum).
    pub correct: usize,
    /// Targets present.
    pub targets: usize,
}

/// Buffers of one forward/backward pass, sized for a maximum batch and
/// reused across batches (allocating them per batch cost page faults).
#[derive(Clone, Debug)]
pub struct Workspace<F> {
    /// `hs[t]` / `cs[t]`: state before step `t`; `[tx + 1, batch, H]`.
    hs: Array3<F>,
    cs: Array3<F>,
    /// Activated gates i, f, g, o per step, `[tx, batch, 4H]`.
    gates: Array3<F>,
    /// tanh(c) per step, `[tx, batch, H]`.
    tanh_c: Array3<F>,
    /// Softmax outputs per step, `[tx, batch, n]`.
    probs: Array3<F>,
    dh_next: Array2<F>,
    dc_next: Array2<F>,
    dh: Array2<F>,
    dlogits: Array2<F>,
    dz: Array2<F>,
}

impl<F: Real> Workspace<F> {
    /// Buffers for batches of up to `max_batch` windows of `tx` steps.
    pub fn new(tx: usize, max_batch: usize, n_values: usize, hidden: usize) -> Workspace<F> {
        let (b, n, h) = (max_batch, n_values, hidden);
        Workspace {
            hs: Array3::zeros((tx + 1, b, h)),
            cs: Array3::zeros((tx + 1, b, h)),
            gates: Array3::zeros((tx, b, 4 * h)),
            tanh_c: Array3::zeros((tx, b, h)),
            probs: Array3::zeros((tx, b, n)),
            dh_next: Array2::zeros((b, h)),
            dc_next: Array2::zeros((b, h)),
            dh: Array2::zeros((b, h)),
            dlogits: Array2::zeros((b, n)),
            dz: Array2::zeros((b, 4 * h)),
        }
    }

    fn fits(&self, tx: usize, batch: usize, n_values: usize, hidden: usize) -> bool {
        let (t1, b, h) = self.hs.dim();
        t1 == tx + 1 && b >= batch && h == hidden && self.probs.dim().2 == n_values
    }
}

/// Forward pass through all steps of `batch` and backpropagation through
/// time; writes the gradient of [`BatchResult::loss`] into `grads` (which it
/// overwrites) and returns the loss. Allocates its buffers; training uses
/// [`forward_backward_with`].
pub fn forward_backward<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
) -> BatchResult<F> {
    let mut ws = Workspace::new(batch.tx(), batch.size(), net.n_values(), net.hidden());
    forward_backward_with(net, batch, grads, &mut ws)
}

/// [`forward_backward`] with reusable buffers (reallocated if too small).
///
/// The layers' forward and backward are side by side: forward the LSTM cell
/// (`z = x·W + h·U + b`, gates, `c`, `h`) then the dense softmax layer;
/// backward, step by step from the last, the softmax/cross-entropy gradient,
/// the dense gradient, then the cell gradient.
pub fn forward_backward_with<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
    ws: &mut Workspace<F>,
) -> BatchResult<F> {
    let (tx, bsz) = (batch.tx(), batch.size());
    let (n, h) = (net.n_values(), net.hidden());
    if !ws.fits(tx, bsz, n, h) {
        *ws = Workspace::new(tx, bsz, n, h);
    }
    if grads.n_values() != n || grads.hidden() != h {
        *grads = Network::zeros(n, h);
    }
    let inv_b = F::one() / F::of(bsz as f64);
    let mut hs = ws.hs.slice_mut(s![.., ..bsz, ..]);
    let mut cs = ws.cs.slice_mut(s![.., ..bsz, ..]);
    let mut gates = ws.gates.slice_mut(s![.., ..bsz, ..]);
    let mut tanh_c = ws.tanh_c.slice_mut(s![.., ..bsz, ..]);
    let mut probs = ws.probs.slice_mut(s![.., ..bsz, ..]);
    hs.index_axis_mut(Axis(0), 0).fill(F::zero());
    cs.index_axis_mut(Axis(0), 0).fill(F::zero());
    let mut result = BatchResult {
        loss: F::zero(),
        correct: 0,
        targets: 0,
    };

    // ---- forward ----
    for t in 0..tx {
        // LSTM cell: z = b + x·W (a row lookup) + h·U, then the gates.
        let mut z = gates.index_axis_mut(Axis(0), t);
        for (b, mut row) in z.rows_mut().into_iter().enumerate() {
            row.assign(&net.bias);
            if let Some(x) = batch.inputs[t][b] {
                row += &net.kernel.row(x);
            }
        }
        general_mat_mul(
            F::one(),
            &hs.index_axis(Axis(0), t),
            &net.recurrent_kernel,
            F::one(),
            &mut z,
        );
        let (before, mut after) = cs.view_mut().split_at(Axis(0), t + 1);
        let c_prev = before.index_axis(Axis(0), t);
        let mut c_next = after.index_axis_mut(Axis(0), 0);
        let mut h_next = hs.index_axis_mut(Axis(0), t + 1);
        let mut tc = tanh_c.index_axis_mut(Axis(0), t);
        for b in 0..bsz {
            let zrow = z.row_mut(b).into_slice().expect("contiguous row");
            let (ifg, o) = zrow.split_at_mut(3 * h);
            let (i_f, g) = ifg.split_at_mut(2 * h);
            for v in i_f.iter_mut() {
                *v = v.sigmoid_act();
            }
            for v in o.iter_mut() {
                *v = v.sigmoid_act();
            }
            for v in g.iter_mut() {
                *v = v.tanh_act();
            }
            let (i, f) = i_f.split_at(h);
            let c_prev = c_prev.row(b);
            let c_prev = c_prev.as_slice().expect("contiguous row");
            let c_next = c_next.row_mut(b).into_slice().expect("contiguous row");
            let tc = tc.row_mut(b).into_slice().expect("contiguous row");
            let h_next = h_next.row_mut(b).into_slice().expect("contiguous row");
            for u in 0..h {
                c_next[u] = f[u] * c_prev[u] + i[u] * g[u];
            }
            for u in 0..h {
                tc[u] = c_next[u].tanh_act();
            }
            for u in 0..h {
                h_next[u] = o[u] * tc[u];
            }
        }

        // Dense + softmax, cross-entropy and accuracy.
        let mut p = probs.index_axis_mut(Axis(0), t);
        for mut row in p.rows_mut() {
            row.assign(&net.dense_bias);
        }
        general_mat_mul(
            F::one(),
            &hs.index_axis(Axis(0), t + 1),
            &net.dense_kernel,
            F::one(),
            &mut p,
        );
        for (b, row) in p.rows_mut().into_iter().enumerate() {
            let row = row.into_slice().expect("contiguous row");
            let max = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
            let target = batch.targets[t][b];
            let mut loss = F::zero();
            if let Some(y) = target {
                if argmax(row.iter().copied()) == y {
                    result.correct += 1;
                }
                result.targets += 1;
                // −log softmax[y] = max + log Σ exp(l − max) − l_y
                loss = max - row[y];
            }
            let mut sum = F::zero();
            for v in row.iter_mut() {
                *v = (*v - max).exp_act();
                sum += *v;
            }
            if target.is_some() {
                result.loss += (loss + sum.ln()) * inv_b;
            }
            let inv_sum = F::one() / sum;
            for v in row.iter_mut() {
                *v *= inv_sum;
            }
        }
    }

    // ---- backward ----
    for buf in grads.buffers_mut() {
        buf.fill(F::zero());
    }
    let mut dh_next = ws.dh_next.slice_mut(s![..bsz, ..]);
    let mut dc_next = ws.dc_next.slice_mut(s![..bsz, ..]);
    let mut dh = ws.dh.slice_mut(s![..bsz, ..]);
    let mut dlogits = ws.dlogits.slice_mut(s![..bsz, ..]);
    let mut dz = ws.dz.slice_mut(s![..bsz, ..]);
    dh_next.fill(F::zero());
    dc_next.fill(F::zero());
    for t in (0..tx).rev() {
        // Softmax + cross-entropy backward: (p − y) / B; zero for a zero target.
        dlogits.assign(&probs.index_axis(Axis(0), t));
        let dense_bias_grad = grads.dense_bias.as_slice_mut().expect("contiguous");
        for (b, row) in dlogits.rows_mut().into_iter().enumerate() {
            let row = row.into_slice().expect("contiguous row");
            match batch.targets[t][b] {
                Some(y) => {
                    row[y] -= F::one();
                    for (v, gb) in row.iter_mut().zip(dense_bias_grad.iter_mut()) {
                        *v *= inv_b;
                        *gb += *v;
                    }
                }
                None => row.fill(F::zero()),
            }
        }
        // Dense backward.
        general_mat_mul(
            F::one(),
            &hs.index_axis(Axis(0), t + 1).t(),
            &dlogits,
            F::one(),
            &mut grads.dense_kernel,
        );
        dh.assign(&dh_next);
        general_mat_mul(F::one(), &dlogits, &net.dense_kernel.t(), F::one(), &mut dh);

        // LSTM cell backward.
        let g_t = gates.index_axis(Axis(0), t);
        let tc = tanh_c.index_axis(Axis(0), t);
        let c_prev = cs.index_axis(Axis(0), t);
        let bias_grad = grads.bias.as_slice_mut().expect("contiguous");
        for b in 0..bsz {
            let g_row = g_t.row(b);
            let g_row = g_row.as_slice().expect("contiguous row");
            let (i, rest) = g_row.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (g, o) = rest.split_at(h);
            let tc = tc.row(b);
            let tc = tc.as_slice().expect("contiguous row");
            let c_prev = c_prev.row(b);
            let c_prev = c_prev.as_slice().expect("contiguous row");
            let dh = dh.row(b);
            let dh = dh.as_slice().expect("contiguous row");
            let dc_next = dc_next.row_mut(b).into_slice().expect("contiguous row");
            let dz_row = dz.row_mut(b).into_slice().expect("contiguous row");
            let (dzi, rest) = dz_row.split_at_mut(h);
            let (dzf, rest) = rest.split_at_mut(h);
            let (dzg, dzo) = rest.split_at_mut(h);
            for u in 0..h {
                let d_c = dh[u] * o[u] * (F::one() - tc[u] * tc[u]) + dc_next[u];
                dzi[u] = d_c * g[u] * i[u] * (F::one() - i[u]);
                dzf[u] = d_c * c_prev[u] * f[u] * (F::one() - f[u]);
                dzg[u] = d_c * i[u] * (F::one() - g[u] * g[u]);
                dzo[u] = dh[u] * tc[u] * o[u] * (F::one() - o[u]);
                dc_next[u] = d_c * f[u];
            }
            for (gb, &d) in bias_grad.iter_mut().zip(dz_row.iter()) {
                *gb += d;
            }
            if let Some(x) = batch.inputs[t][b] {
                let k = grads
                    .kernel
                    .row_mut(x)
                    .into_slice()
                    .expect("contiguous row");
                for (k, &d) in k.iter_mut().zip(dz_row.iter()) {
                    *k += d;
                }
            }
        }
        general_mat_mul(
            F::one(),
            &hs.index_axis(Axis(0), t).t(),
            &dz,
            F::one(),
            &mut grads.recurrent_kernel,
        );
        general_mat_mul(
            F::one(),
            &dz,
            &net.recurrent_kernel.t(),
            F::zero(),
            &mut dh_next,
        );
    }
    result
}

fn argmax<F: Real>(values: impl Iterator<Item = F>) -> usize {
    let mut best = (0, F::neg_infinity());
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Adam with Keras 2's legacy `decay` (see the module docs).
#[derive(Clone, Debug)]
pub struct Adam<F> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub decay: f64,
    /// Updates applied so far (Keras `iterations`).
    pub iterations: u64,
    m: Network<F>,
    v: Network<F>,
}

impl<F: Real> Adam<F> {
    pub fn new(config: &TrainConfig, n_values: usize, hidden: usize) -> Adam<F> {
        Adam {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            decay: config.decay,
            iterations: 0,
            m: Network::zeros(n_values, hidden),
            v: Network::zeros(n_values, hidden),
        }
    }

    /// Learning rate after decay, before bias correction.
    pub fn decayed_lr(&self) -> f64 {
        self.lr / (1.0 + self.decay * self.iterations as f64)
    }

    /// One update of `net` with gradient `grads`.
    pub fn update(&mut self, net: &mut Network<F>, grads: &Network<F>) {
        let t = (self.iterations + 1) as i32;
        let lr_t =
            self.decayed_lr() * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t));
        let (lr_t, b1, b2, eps) = (
            F::of(lr_t),
            F::of(self.beta1),
            F::of(self.beta2),
            F::of(ADAM_EPSILON),
        );
        let (one_b1, one_b2) = (F::one() - b1, F::one() - b2);
        let params = net.buffers_mut();
        let grads = grads.buffers();
        let ms = self.m.buffers_mut();
        let vs = self.v.buffers_mut();
        for (((p, g), m), v) in params.into_iter().zip(grads).zip(ms).zip(vs) {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                *p -= lr_t * *m / (v.sqrt() + eps);
            }
        }
        self.iterations += 1;
    }
}

/// The window start indices of the original: `np.random.seed(seed)` then
/// `windows` draws of `np.random.choice(corpus_len - tx)`, continuing `rng`.
pub fn draw_window_starts(
    rng: &mut NumpyRandomState,
    corpus_len: usize,
    tx: usize,
    windows: usize,
) -> Vec<usize> {
    (0..windows)
        .map(|_| rng.choice(corpus_len.saturating_sub(tx)))
        .collect()
}

/// A training run in progress: the windows, the network, Adam's state and
/// the random stream. [`train`] drives it; benchmarks and callers that want
/// control between epochs can drive it themselves.
pub struct Trainer<'a> {
    config: TrainConfig,
    corpus_len: usize,
    n_values: usize,
    starts: Vec<usize>,
    windows: Vec<&'a [usize]>,
    baseline_accuracy: f64,
    rng: NumpyRandomState,
    net: Network<f32>,
    grads: Network<f32>,
    adam: Adam<f32>,
    workspace: Workspace<f32>,
    order: Vec<usize>,
    history: Vec<EpochStats>,
}

impl<'a> Trainer<'a> {
    /// Validates the inputs, draws the windows and initialises the network.
    pub fn new(
        corpus_indices: &'a [usize],
        n_values: usize,
        config: &TrainConfig,
    ) -> Result<Trainer<'a>, TrainError> {
        config.validate()?;
        let n = n_values;
        if n == 0 {
            return Err(TrainError::EmptyVocab);
        }
        if let Some((position, &index)) = corpus_indices.iter().enumerate().find(|(_, &i)| i >= n) {
            return Err(TrainError::IndexOutOfVocab {
                position,
                index,
                n_values: n,
            });
        }
        if corpus_indices.len() < config.tx + 1 {
            return Err(TrainError::CorpusTooShort {
                len: corpus_indices.len(),
                tx: config.tx,
            });
        }
        let mut rng = NumpyRandomState::seed(config.seed);
        let starts = draw_window_starts(&mut rng, corpus_indices.len(), config.tx, config.windows);
        let windows: Vec<&[usize]> = starts
            .iter()
            .map(|&s| &corpus_indices[s..s + config.tx])
            .collect();
        let baseline_accuracy = baseline_accuracy(&windows, n);
        let net = Network::<f32>::keras_init(n, config.hidden, &mut rng);
        Ok(Trainer {
            config: config.clone(),
            corpus_len: corpus_indices.len(),
            n_values: n,
            order: (0..windows.len()).collect(),
            starts,
            windows,
            baseline_accuracy,
            rng,
            grads: Network::zeros(n, config.hidden),
            adam: Adam::new(config, n, config.hidden),
            workspace: Workspace::new(
                config.tx,
                config.batch.min(config.windows),
                n,
                config.hidden,
            ),
            net,
            history: Vec::with_capacity(config.epochs),
        })
    }

    /// The network's weights as they are now (between epochs), in the model's layout.
    pub fn params(&self) -> LstmParams {
        self.net.to_params()
    }

    /// Runs one epoch (shuffle, then one Adam update per batch) and returns
    /// its statistics. Epochs are numbered from 1; running more than
    /// `config.epochs` is allowed.
    pub fn epoch(&mut self) -> Result<EpochStats, TrainError> {
        let epoch = self.history.len() + 1;
        self.rng.shuffle(&mut self.order);
        let (mut loss_sum, mut correct, mut targets) = (0.0f64, 0usize, 0usize);
        for chunk in self.order.chunks(self.config.batch) {
            let batch_windows: Vec<&[usize]> = chunk.iter().map(|&i| self.windows[i]).collect();
            let batch = Batch::from_windows(&batch_windows);
            let result =
                forward_backward_with(&self.net, &batch, &mut self.grads, &mut self.workspace);
            self.adam.update(&mut self.net, &self.grads);
            loss_sum += f64::from(result.loss) * chunk.len() as f64;
            correct += result.correct;
            targets += result.targets;
        }
        let loss = loss_sum / self.windows.len() as f64;
        let weights_finite = self
            .net
            .buffers()
            .iter()
            .all(|b| b.iter().all(|x| x.is_finite()));
        if !loss.is_finite() || !weights_finite {
            return Err(TrainError::Diverged { epoch });
        }
        let stats = EpochStats {
            epoch,
            epochs: self.config.epochs,
            loss,
            loss_per_value: loss / (self.config.tx - 1) as f64,
            accuracy: correct as f64 / targets.max(1) as f64,
            learning_rate: self.adam.decayed_lr(),
        };
        self.history.push(stats.clone());
        Ok(stats)
    }

    /// The network as it stands.
    pub fn network(&self) -> &Network<f32> {
        &self.net
    }

    /// Finishes the run: the model (provenance: hyper-parameters, final loss
    /// and accuracy) and the report. The vocabulary is stored as a weights
    /// file stores it (printed and parsed back, so durations keep three
    /// decimals, `0.333` for a triplet), so saving and loading the model
    /// changes nothing.
    pub fn finish(self, vocab: Vec<Value>) -> Result<(Model, TrainReport), TrainError> {
        let vocab = vocab
            .into_iter()
            .map(|v| Value::parse(&v.to_string()).unwrap_or(v))
            .collect();
        let last = self.history.last().cloned();
        let mut hyperparameters = match serde_json::to_value(&self.config) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
            _ => std::collections::BTreeMap::new(),
        };
        hyperparameters.insert("corpus_len".into(), self.corpus_len.into());
        hyperparameters.insert("n_values".into(), self.n_values.into());
        let provenance = Provenance {
            training_files: Vec::new(),
            hyperparameters,
            final_loss: last.as_ref().map(|s| s.loss as f32),
            final_accuracy: last.as_ref().map(|s| s.accuracy as f32),
            ..Provenance::default()
        };
        let model =
            Model::new(self.net.to_params(), vocab, provenance).map_err(TrainError::Model)?;
        let report = TrainReport {
            epochs: self.history,
            window_starts: self.starts,
            baseline_accuracy: self.baseline_accuracy,
            corpus_len: self.corpus_len,
            n_values: self.n_values,
        };
        Ok((model, report))
    }
}

/// Trains on `corpus_indices` (value indices into `vocab`) for
/// `config.epochs` epochs and returns the model (with provenance:
/// hyper-parameters, final loss and accuracy; add the training files with
/// [`file_record`] and [`Model::set_provenance`]) and a report. `on_epoch` is
/// called after every epoch.
pub fn train(
    corpus_indices: &[usize],
    vocab: Vec<Value>,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochStats),
) -> Result<(Model, TrainReport), TrainError> {
    let mut trainer = Trainer::new(corpus_indices, vocab.len(), config)?;
    for _ in 0..config.epochs {
        let stats = trainer.epoch()?;
        on_epoch(&stats);
    }
    trainer.finish(vocab)
}

/// Accuracy of always predicting the most frequent target of the windows.
fn baseline_accuracy(windows: &[&[usize]], n_values: usize) -> f64 {
    let mut counts = vec![0usize; n_values];
    let mut total = 0;
    for w in windows {
        for &v in &w[1..] {
            counts[v] += 1;
            total += 1;
        }
    }
    counts.iter().copied().max().unwrap_or(0) as f64 / total.max(1) as f64
}
