//! A training run: configuration, the original's window draws, Adam with Keras's legacy decay,
//! the epoch loop, statistics, errors and the provenance records of the training files.

use super::fused::{forward_backward_fused, FusedWorkspace};
use super::network::{forward_backward_with, Batch, BatchResult, Network, Real, Workspace};
use super::numpy_rng::NumpyRandomState;
use crate::model::lstm::{LstmParams, Model, ModelError, Provenance, TrainingFile, Value};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// Training hyper-parameters. `Default` is the original's seed setup.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Training windows drawn from the corpus (`m`).
    pub windows: usize,
    /// Time steps per window (`Tx`).
    pub tx: usize,
    /// LSTM hidden units (`n_a`), in every layer.
    pub hidden: usize,
    /// Stacked LSTM layers (the original's 1, which is not written into the hyper-parameters).
    #[serde(skip_serializing_if = "is_one")]
    pub layers: usize,
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
    /// Train on every window position of the corpus (`len − Tx` windows, in a new order each
    /// epoch) instead of `windows` drawn at random, so a large corpus is covered. Off in the
    /// seed setup (and then not written into the hyper-parameters, which stay the original's).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub every_window: bool,
    /// With `every_window`: windows start every `stride` positions (1 = every position, the
    /// default; `tx` = each value is a target about once an epoch). 0 and 1 are not written.
    #[serde(default, skip_serializing_if = "at_most_one")]
    pub stride: usize,
    /// Threads sharing each batch (data-parallel). The same seed and thread count give the
    /// same weights bit for bit; another thread count sums the gradients in another order, so
    /// the last bits differ. 1 (the seed setup) is not written into the hyper-parameters.
    #[serde(skip_serializing_if = "is_one")]
    pub threads: usize,
    /// How a batch's gradient is computed: step by step (the seed setup, bit for bit the
    /// original's arithmetic order) or fused into large products over all steps (collections;
    /// the same gradient up to rounding, several times faster at large sizes). Not written.
    #[serde(skip)]
    pub kernel: Kernel,
    /// Weights to start from instead of Keras's random initialisation: `jazz-train --resume`
    /// continues a run from the file it wrote. Their vocabulary and hidden size must be the
    /// run's. Adam's moments start from zero (the file does not keep them).
    #[serde(skip)]
    pub start_from: Option<LstmParams>,
    /// The conditioning kernel to start from with `start_from` (a chord-aware model).
    #[serde(skip)]
    pub start_cond: Option<Vec<f32>>,
    /// The dense layer's style rows to start from with `start_from` (`[S, n]`; none = zeros).
    #[serde(skip)]
    pub start_style_dense: Option<Vec<f32>>,
    /// Share of the windows (drawn anew each epoch, by a hash of the window's start, the epoch
    /// and the seed) trained with the style inputs zeroed, as "any": so the model learns an
    /// average voice beside each style's. 0 (the default, and every model without styles) is
    /// not written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub style_dropout: f64,
    /// The conditioning slots `style_dropout` zeroes (`start..end`; empty = none).
    #[serde(skip)]
    pub style_slots: std::ops::Range<usize>,
    /// Only the style weights learn (the conditioning kernel's rows `style_slots` and the dense
    /// layer's style rows); every other weight stays as `start_from` has it (`jazz-train
    /// --style-base`). The network with the style withheld is then the starting model exactly,
    /// and each style is a shift of the gates and of the output learned from that style's
    /// solos alone. Off (not written) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub style_only: bool,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Zeroes every gradient of `grads` but the conditioning kernel's rows `slots` (the style
/// block) and the dense layer's style rows, for [`TrainConfig::style_only`].
fn keep_style_rows(grads: &mut Network<f32>, slots: &std::ops::Range<usize>) {
    grads.kernel.fill(0.0);
    grads.recurrent_kernel.fill(0.0);
    grads.bias.fill(0.0);
    grads.dense_kernel.fill(0.0);
    grads.dense_bias.fill(0.0);
    for layer in &mut grads.upper {
        layer.kernel.fill(0.0);
        layer.recurrent_kernel.fill(0.0);
        layer.bias.fill(0.0);
    }
    for (r, mut row) in grads.cond_kernel.rows_mut().into_iter().enumerate() {
        if !slots.contains(&r) {
            row.fill(0.0);
        }
    }
}

/// Whether the window starting at `start` has its style withheld in `epoch`: a stable hash
/// (SplitMix64) of the three numbers, so every run and every thread count agrees.
pub fn style_withheld(share: f64, start: usize, epoch: usize, seed: u32) -> bool {
    if share <= 0.0 {
        return false;
    }
    let mut z =
        (start as u64) ^ ((epoch as u64) << 40) ^ (u64::from(seed) << 20) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < share
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn at_most_one(n: &usize) -> bool {
    *n <= 1
}

impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            windows: 60,
            tx: 30,
            hidden: 64,
            layers: 1,
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            decay: 0.01,
            epochs: 100,
            batch: 32,
            seed: 0,
            every_window: false,
            stride: 1,
            threads: 1,
            kernel: Kernel::Stepwise,
            start_from: None,
            start_cond: None,
            start_style_dense: None,
            style_dropout: 0.0,
            style_slots: 0..0,
            style_only: false,
        }
    }
}

/// The two ways of computing a batch's gradient (see [`TrainConfig::kernel`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernel {
    /// [`forward_backward_with`]: step by step, as the seed's weights were computed.
    #[default]
    Stepwise,
    /// [`forward_backward_fused`]: large products over all the steps of a batch.
    Fused,
}

/// A part's scratch buffers for its kernel.
#[derive(Clone, Debug)]
enum Scratch {
    Stepwise(Workspace<f32>),
    Fused(FusedWorkspace<f32>),
}

impl Scratch {
    fn new(config: &TrainConfig, batch: usize, n: usize) -> Scratch {
        match config.kernel {
            Kernel::Stepwise => Scratch::Stepwise(Workspace::new_layers(
                config.tx,
                batch,
                n,
                config.hidden,
                config.layers,
            )),
            // Sized at the first batch (it knows the conditioning's width).
            Kernel::Fused => Scratch::Fused(FusedWorkspace::default()),
        }
    }

    fn run(
        &mut self,
        net: &Network<f32>,
        batch: &Batch,
        grads: &mut Network<f32>,
    ) -> BatchResult<f32> {
        match self {
            Scratch::Stepwise(ws) => forward_backward_with(net, batch, grads, ws),
            Scratch::Fused(ws) => forward_backward_fused(net, batch, grads, ws),
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
        if self.threads == 0 || self.threads > 256 {
            return bad(format!("threads = {} must be from 1 to 256", self.threads));
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
        if self.layers == 0 || self.layers > crate::model::lstm::MAX_LAYERS {
            return bad(format!(
                "layers = {} must be from 1 to {}",
                self.layers,
                crate::model::lstm::MAX_LAYERS
            ));
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
        if self.style_only && (self.start_from.is_none() || self.style_slots.is_empty()) {
            return bad("style_only needs weights to start from and styles to learn".into());
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
    /// The weights given to resume from do not fit this run.
    Resume(String),
    /// Stopped (Ctrl-C) before the first epoch ended.
    Interrupted,
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
            TrainError::Resume(why) => write!(f, "cannot resume: {why}"),
            TrainError::Interrupted => write!(
                f,
                "interrupted before the first epoch ended: nothing learned, nothing written"
            ),
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
            tracks: s.tracks.clone(),
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
        tracks: None,
    })
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
        Adam::new_with(config, n_values, hidden, 0)
    }

    /// [`Adam::new`] for a network with `cond` conditioning inputs.
    pub fn new_with(config: &TrainConfig, n_values: usize, hidden: usize, cond: usize) -> Adam<F> {
        Adam::for_network(config, &Network::zeros_with(n_values, hidden, cond))
    }

    /// Adam with zero moments shaped like `net`.
    pub fn for_network(config: &TrainConfig, net: &Network<F>) -> Adam<F> {
        Adam {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            decay: config.decay,
            iterations: 0,
            m: net.zeros_like(),
            v: net.zeros_like(),
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

    /// [`Adam::update`] with the gradient given as parts (`(gradient, weight)`: the gradient is
    /// `Σ weight · part`, summed in the order given), the work split among the pool's threads.
    /// Each element sees the same operations in the same order whatever the thread count, so
    /// the result depends only on the parts.
    pub fn update_from_parts(
        &mut self,
        net: &mut Network<F>,
        parts: &[(&Network<F>, F)],
        pool: Option<&rayon::ThreadPool>,
    ) where
        F: Send + Sync,
    {
        let t = (self.iterations + 1) as i32;
        let lr_t =
            self.decayed_lr() * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t));
        let consts = AdamStep {
            lr_t: F::of(lr_t),
            b1: F::of(self.beta1),
            b2: F::of(self.beta2),
            eps: F::of(ADAM_EPSILON),
        };
        let threads = pool.map_or(1, |p| p.current_num_threads());
        // Every buffer cut into `threads` pieces; piece k of every buffer goes to thread k.
        let mut work: Vec<Vec<AdamPiece<'_, F>>> = (0..threads).map(|_| Vec::new()).collect();
        let params = net.buffers_mut();
        let ms = self.m.buffers_mut();
        let vs = self.v.buffers_mut();
        for (b, ((p, m), v)) in params.into_iter().zip(ms).zip(vs).enumerate() {
            let size = p.len().div_ceil(threads).max(1);
            let mut start = 0;
            for ((k, p), (m, v)) in p
                .chunks_mut(size)
                .enumerate()
                .zip(m.chunks_mut(size).zip(v.chunks_mut(size)))
            {
                let grads: Vec<(&[F], F)> = parts
                    .iter()
                    .map(|(g, w)| (&g.buffers()[b][start..start + p.len()], *w))
                    .collect();
                start += p.len();
                work[k].push(AdamPiece { p, m, v, grads });
            }
        }
        let apply = |piece: Vec<AdamPiece<'_, F>>| piece.into_iter().for_each(|w| consts.apply(w));
        match pool {
            Some(pool) => pool.install(|| work.into_par_iter().for_each(apply)),
            None => work.into_iter().for_each(apply),
        }
        self.iterations += 1;
    }
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct AdamStep<F> {
    lr_t: F,
    b1: F,
    b2: F,
    eps: F,
}

/// A stretch of one buffer: parameters, moments and the gradient parts over it.
struct AdamPiece<'a, F> {
    p: &'a mut [F],
    m: &'a mut [F],
    v: &'a mut [F],
    grads: Vec<(&'a [F], F)>,
}

impl<F: Real> AdamStep<F> {
    /// One element's update from its gradient.
    #[inline(always)]
    fn element(self, p: &mut F, m: &mut F, v: &mut F, g: F) {
        let AdamStep { lr_t, b1, b2, eps } = self;
        *m = b1 * *m + (F::one() - b1) * g;
        *v = b2 * *v + (F::one() - b2) * g * g;
        *p -= lr_t * *m / (v.sqrt() + eps);
    }

    fn apply(self, w: AdamPiece<'_, F>) {
        let AdamPiece { p, m, v, grads } = w;
        let pmv = p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
        // Two parts (two threads) is the common case: a loop the compiler vectorises.
        match grads.as_slice() {
            [(a, wa), (b, wb)] => {
                for (((p, m), v), (&a, &b)) in pmv.zip(a.iter().zip(b.iter())) {
                    self.element(p, m, v, a * *wa + *wb * b);
                }
            }
            [(first, first_w), rest @ ..] => {
                for (i, ((p, m), v)) in pmv.enumerate() {
                    let mut g = first[i] * *first_w;
                    for (part, weight) in rest {
                        g += *weight * part[i];
                    }
                    self.element(p, m, v, g);
                }
            }
            [] => {}
        }
    }
}

/// One part's gradient buffer and workspace.
type PartBuffers<'b> = (&'b mut Network<f32>, &'b mut Scratch);

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
    /// Set from another thread (Ctrl-C) to end the epoch running before its next batch.
    stop: Option<&'a std::sync::atomic::AtomicBool>,
    config: TrainConfig,
    corpus_len: usize,
    n_values: usize,
    /// Conditioning vectors of the corpus positions, `[len, cond_size]` row-major.
    cond: &'a [f32],
    cond_size: usize,
    starts: Vec<usize>,
    windows: Vec<&'a [usize]>,
    baseline_accuracy: f64,
    rng: NumpyRandomState,
    net: Network<f32>,
    grads: Network<f32>,
    adam: Adam<f32>,
    workspace: Scratch,
    /// Gradients and buffers of the threads after the first (`threads − 1` of them).
    helpers: Vec<(Network<f32>, Scratch)>,
    /// The training threads (with more than one): started once, so a batch costs no spawns.
    pool: Option<rayon::ThreadPool>,
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
        Trainer::new_conditioned(corpus_indices, n_values, config, &[], 0)
    }

    /// [`Trainer::new`] for a chord-aware network: `cond` holds `cond_size` numbers for every
    /// corpus position (the conditioning of the value there).
    pub fn new_conditioned(
        corpus_indices: &'a [usize],
        n_values: usize,
        config: &TrainConfig,
        cond: &'a [f32],
        cond_size: usize,
    ) -> Result<Trainer<'a>, TrainError> {
        config.validate()?;
        if cond.len() != corpus_indices.len() * cond_size {
            return Err(TrainError::BadConfig(format!(
                "the conditioning has {} numbers; expected {} values x {cond_size}",
                cond.len(),
                corpus_indices.len()
            )));
        }
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
        let starts = if config.every_window {
            (0..corpus_indices.len() - config.tx)
                .step_by(config.stride.max(1))
                .collect()
        } else {
            draw_window_starts(&mut rng, corpus_indices.len(), config.tx, config.windows)
        };
        let windows: Vec<&[usize]> = starts
            .iter()
            .map(|&s| &corpus_indices[s..s + config.tx])
            .collect();
        let baseline_accuracy = baseline_accuracy(&windows, n);
        let batch = config.batch.min(windows.len());
        let mut net =
            Network::<f32>::keras_init_layers(n, config.hidden, cond_size, config.layers, &mut rng);
        // The style block (the last conditioning inputs) also feeds the dense layer; its rows
        // start at zero, so no random draw changes for any other network.
        let slots = &config.style_slots;
        if !slots.is_empty() {
            if slots.end != cond_size {
                return Err(TrainError::BadConfig(format!(
                    "the style inputs {}..{} must be the last of the {cond_size} conditioning \
                     inputs",
                    slots.start, slots.end
                )));
            }
            net.style_dense = ndarray::Array2::zeros((slots.len(), n));
        }
        if let Some(start) = &config.start_from {
            if start.n_values != n
                || start.hidden != config.hidden
                || start.layers() != config.layers
            {
                return Err(TrainError::Resume(format!(
                    "the weights to resume from have {} values, {} hidden units and {} LSTM \
                     layers; this run has {n} values, {} hidden units and {} layers",
                    start.n_values,
                    start.hidden,
                    start.layers(),
                    config.hidden,
                    config.layers
                )));
            }
            let cond_kernel = std::mem::take(&mut net.cond_kernel);
            let style_dense = std::mem::take(&mut net.style_dense);
            net = Network::from_params(start);
            net.cond_kernel = cond_kernel;
            net.style_dense = style_dense;
            if let Some(k) = &config.start_cond {
                if k.len() != net.cond_kernel.len() {
                    return Err(TrainError::Resume(format!(
                        "the weights to resume from have {} conditioning numbers; this run \
                         needs {}",
                        k.len(),
                        net.cond_kernel.len()
                    )));
                }
                for (d, &x) in net.cond_kernel.iter_mut().zip(k) {
                    *d = x;
                }
            }
            if let Some(k) = &config.start_style_dense {
                if k.len() != net.style_dense.len() {
                    return Err(TrainError::Resume(format!(
                        "the weights to resume from have {} numbers in the dense layer's style \
                         rows; this run needs {}",
                        k.len(),
                        net.style_dense.len()
                    )));
                }
                for (d, &x) in net.style_dense.iter_mut().zip(k) {
                    *d = x;
                }
            }
        }
        let pool = if config.threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.threads)
                .thread_name(|k| format!("jazz-train-{k}"))
                .build()
                .map_err(|e| {
                    TrainError::BadConfig(format!(
                        "could not start {} training threads ({e}); try a smaller --threads",
                        config.threads
                    ))
                })?;
            Some(pool)
        } else {
            None
        };
        Ok(Trainer {
            pool,
            config: config.clone(),
            corpus_len: corpus_indices.len(),
            n_values: n,
            cond,
            cond_size,
            order: (0..windows.len()).collect(),
            starts,
            windows,
            baseline_accuracy,
            rng,
            grads: net.zeros_like(),
            adam: Adam::for_network(config, &net),
            workspace: Scratch::new(config, batch, n),
            helpers: (1..config.threads)
                .map(|_| {
                    (
                        net.zeros_like(),
                        Scratch::new(config, batch.div_ceil(config.threads), n),
                    )
                })
                .collect(),
            net,
            history: Vec::with_capacity(config.epochs),
            stop: None,
        })
    }

    /// Epochs run so far.
    pub fn epochs_run(&self) -> usize {
        self.history.len()
    }

    /// The network's weights as they are now (between epochs), in the model's layout.
    pub fn params(&self) -> LstmParams {
        self.net.to_params()
    }

    /// Ends an epoch before its next batch when `flag` is set (a batch takes well under a
    /// second at any corpus size, so Ctrl-C is answered at once): the epoch returns
    /// [`TrainError::Interrupted`] and the network keeps the updates made so far.
    pub fn stop_when(&mut self, flag: &'a std::sync::atomic::AtomicBool) {
        self.stop = Some(flag);
    }

    /// Runs one epoch (shuffle, then one Adam update per batch) and returns
    /// its statistics. Epochs are numbered from 1; running more than
    /// `config.epochs` is allowed.
    pub fn epoch(&mut self) -> Result<EpochStats, TrainError> {
        let epoch = self.history.len() + 1;
        self.rng.shuffle(&mut self.order);
        let (mut loss_sum, mut correct, mut targets) = (0.0f64, 0usize, 0usize);
        let order = std::mem::take(&mut self.order);
        for chunk in order.chunks(self.config.batch) {
            if self
                .stop
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
            {
                self.order = order;
                return Err(TrainError::Interrupted);
            }
            let batch_windows: Vec<&'a [usize]> = chunk.iter().map(|&i| self.windows[i]).collect();
            let batch_starts: Vec<usize> = chunk.iter().map(|&i| self.starts[i]).collect();
            let (loss, hits, real_targets, shares) = self.gradients(&batch_windows, &batch_starts);
            if self.config.style_only {
                // Adam moves nothing whose gradient has always been zero (its moments stay 0).
                let slots = &self.config.style_slots;
                keep_style_rows(&mut self.grads, slots);
                for (g, _) in &mut self.helpers {
                    keep_style_rows(g, slots);
                }
            }
            if shares.len() <= 1 {
                self.adam.update(&mut self.net, &self.grads);
            } else {
                // The parts' gradients are summed inside the (threaded) update.
                let helpers = self.helpers.iter().map(|(g, _)| g);
                let grads: Vec<(&Network<f32>, f32)> = std::iter::once(&self.grads)
                    .chain(helpers)
                    .zip(shares)
                    .collect();
                self.adam
                    .update_from_parts(&mut self.net, &grads, self.pool.as_ref());
            }
            loss_sum += loss * chunk.len() as f64;
            correct += hits;
            targets += real_targets;
        }
        self.order = order;
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

    /// The gradient of one batch, shared out among the threads: each takes a contiguous part of
    /// the batch and leaves the mean gradient over its part in its buffer (`self.grads` for the
    /// first part, the helpers' for the others); the update sums them, weighted by the parts'
    /// sizes. Returns the batch's mean loss, its correct predictions, its real targets and each
    /// part's share of the batch.
    fn gradients(
        &mut self,
        windows: &[&[usize]],
        starts: &[usize],
    ) -> (f64, usize, usize, Vec<f32>) {
        let (cond, cond_size) = (self.cond, self.cond_size);
        let (share, slots, seed) = (
            self.config.style_dropout,
            self.config.style_slots.clone(),
            self.config.seed,
        );
        let epoch = self.history.len() + 1;
        let make_batch = |windows: &[&[usize]], starts: &[usize]| {
            if cond_size == 0 {
                Batch::from_windows(windows)
            } else {
                let of = |k: usize| -> &[f32] {
                    cond.get(k * cond_size..(k + 1) * cond_size).unwrap_or(&[])
                };
                let mut batch = Batch::from_windows_with(windows, starts, cond_size, of);
                if !slots.is_empty() && slots.end <= cond_size {
                    for (b, &s) in starts.iter().enumerate() {
                        if style_withheld(share, s, epoch, seed) {
                            for step in &mut batch.cond {
                                let row = &mut step[b * cond_size..(b + 1) * cond_size];
                                row[slots.clone()].fill(0.0);
                            }
                        }
                    }
                }
                batch
            }
        };
        let parts = (self.helpers.len() + 1).min(windows.len()).max(1);
        if parts == 1 {
            let batch = make_batch(windows, starts);
            let r = self.workspace.run(&self.net, &batch, &mut self.grads);
            return (f64::from(r.loss), r.correct, r.targets, vec![1.0]);
        }
        let size = windows.len().div_ceil(parts);
        let chunks: Vec<&[&[usize]]> = windows.chunks(size).collect();
        let start_chunks: Vec<&[usize]> = starts.chunks(size).collect();
        let net = &self.net;
        // Part k's buffers: `self.grads` for the first, the helpers' for the others.
        let mut buffers: Vec<PartBuffers<'_>> =
            std::iter::once((&mut self.grads, &mut self.workspace))
                .chain(self.helpers.iter_mut().map(|(g, w)| (g, w)))
                .take(chunks.len())
                .collect();
        let part =
            |((grads, ws), (chunk, starts)): (&mut PartBuffers<'_>, (&&[&[usize]], &&[usize]))| {
                let r = ws.run(net, &make_batch(chunk, starts), grads);
                (r.loss, r.correct, r.targets)
            };
        let results: Vec<(f32, usize, usize)> = match &self.pool {
            Some(pool) => pool.install(|| {
                buffers
                    .par_iter_mut()
                    .zip(chunks.par_iter().zip(start_chunks.par_iter()))
                    .map(part)
                    .collect()
            }),
            None => buffers
                .iter_mut()
                .zip(chunks.iter().zip(start_chunks.iter()))
                .map(part)
                .collect(),
        };
        let total = windows.len() as f32;
        let share = |k: usize| chunks[k].len() as f32 / total;
        let loss = results
            .iter()
            .enumerate()
            .map(|(k, r)| f64::from(r.0) * f64::from(share(k)))
            .sum();
        let correct = results.iter().map(|r| r.1).sum();
        let targets = results.iter().map(|r| r.2).sum();
        let shares = (0..chunks.len()).map(share).collect();
        (loss, correct, targets, shares)
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
        let mut model =
            Model::new(self.net.to_params(), vocab, provenance).map_err(TrainError::Model)?;
        if self.cond_size > 0 {
            model = model
                .with_conditioning(crate::model::lstm::Conditioning {
                    layout: crate::music::conditioning::LAYOUT.into(),
                    size: self.cond_size,
                    kernel: self.net.cond_params(),
                    styles: Vec::new(),
                    style_dense: Vec::new(),
                })
                .map_err(TrainError::Model)?;
        }
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
