//! The inference LSTM: one-hot index in, softmax probabilities out, explicit
//! hidden and cell state. Keras layout, gate order input, forget, cell, output.
//!
//! - [`Model`] holds the parameters ([`LstmParams`]), the vocabulary, provenance and its own
//!   state buffers: [`Model::reset`], [`Model::step`] (probabilities; never allocates),
//!   [`Model::hidden`], [`Model::cell`].
//! - [`sample`] / [`sample_with`]: the one sampler (temperature 0 = argmax), used by the engine
//!   and `jazz-synth sample`.
//!
//! # Equations (written down once; `train` uses the same layout)
//!
//! With `x` the one-hot input (or zeros), `h`, `c` the previous state and
//! `H` the hidden size, the gate pre-activations are
//!
//! ```text
//! z = x · kernel + h · recurrent_kernel + bias          z: [4H]
//! i = σ(z[0..H])   f = σ(z[H..2H])   g = tanh(z[2H..3H])   o = σ(z[3H..4H])
//! c' = f ⊙ c + i ⊙ g
//! h' = o ⊙ tanh(c')
//! p = softmax(h' · dense_kernel + dense_bias)           p: [n_values]
//! ```
//!
//! σ is the logistic sigmoid, the `recurrent_activation` default of tf.keras
//! (TensorFlow 2). Standalone Keras 1.x/2.x, which deepjazz and, as far as we
//! know, the course notebook ran on, defaulted to `hard_sigmoid`
//! (`clip(0.2·x + 0.5, 0, 1)`): weights imported from such a model would
//! behave slightly differently here. Our trainer uses σ too, so our own
//! weights are consistent.
//!
//! Because `x` is one-hot, `x · kernel` is a row lookup of `kernel`.
//!
//! # Speed
//!
//! At the seed size (90 values, H = 64) a step multiplies h by ~90 KB of
//! weights, more than a 32 KB L1 cache holds, so it streams them from L2:
//! on the development machine (Zen 3, ~2.5 GHz) that alone takes ~0.9 µs,
//! and a whole step ~1.25 µs. The weights are repacked at construction
//! (gate blocks of 16 units, dense columns padded to 96) so every product
//! reads memory in order with its accumulators in registers; transcendental
//! functions are vectorizable polynomial approximations (errors ~1e-7);
//! an AVX2+FMA kernel is chosen at run time where the CPU has it.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::model::aligned::AlignedF32;
use crate::music::contour::IntervalProfile;
use crate::music::pitch::PitchModel;
use crate::music::quality::Figures;
use std::fmt;

pub use crate::music::grammar::Value;

/// Parses one vocabulary entry as it is stored in a weights file.
pub fn parse_vocab_entry(text: &str) -> Result<Value, String> {
    Value::parse(text).map_err(|e| e.to_string())
}

/// The text a vocabulary entry is stored as (the original's value string).
pub fn vocab_entry_text(value: &Value) -> String {
    value.to_string()
}

/// The learned parameters, in Keras layout (row-major, gate order i, f, c, o).
#[derive(Clone, Debug, PartialEq)]
pub struct LstmParams {
    /// Number of distinct values (one-hot input width and softmax width).
    pub n_values: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// `[n_values, 4H]`.
    pub kernel: Vec<f32>,
    /// `[H, 4H]`.
    pub recurrent_kernel: Vec<f32>,
    /// `[4H]`.
    pub bias: Vec<f32>,
    /// `[H, n_values]`.
    pub dense_kernel: Vec<f32>,
    /// `[n_values]`.
    pub dense_bias: Vec<f32>,
    /// The LSTM layers stacked above the first (empty for the seed's one layer): layer `l + 2`
    /// reads the hidden state of the layer below; the dense layer reads the top one.
    pub upper: Vec<LayerParams>,
}

/// One LSTM layer above the first: its input is the hidden state (`H` numbers) of the layer
/// below, its gates in Keras order i, f, c, o.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerParams {
    /// `[H, 4H]`: the input kernel (from the layer below).
    pub kernel: Vec<f32>,
    /// `[H, 4H]`.
    pub recurrent_kernel: Vec<f32>,
    /// `[4H]`.
    pub bias: Vec<f32>,
}

impl LayerParams {
    /// All zeros for `hidden` units.
    pub fn zeros(hidden: usize) -> LayerParams {
        LayerParams {
            kernel: vec![0.0; hidden * 4 * hidden],
            recurrent_kernel: vec![0.0; hidden * 4 * hidden],
            bias: vec![0.0; 4 * hidden],
        }
    }
}

/// The weights-file name of tensor `part` (`kernel`, `recurrent_kernel`, `bias`) of LSTM layer
/// `layer` (1-based; layer 1 is `lstm.*`, the layers above it `lstm2.*`, `lstm3.*`, ...).
pub fn layer_tensor_name(layer: usize, part: &str) -> String {
    if layer <= 1 {
        format!("lstm.{part}")
    } else {
        format!("lstm{layer}.{part}")
    }
}

impl LstmParams {
    /// All-zero parameters of the given size.
    pub fn zeros(n_values: usize, hidden: usize) -> LstmParams {
        LstmParams {
            n_values,
            hidden,
            kernel: vec![0.0; n_values * 4 * hidden],
            recurrent_kernel: vec![0.0; hidden * 4 * hidden],
            bias: vec![0.0; 4 * hidden],
            dense_kernel: vec![0.0; hidden * n_values],
            dense_bias: vec![0.0; n_values],
            upper: Vec::new(),
        }
    }

    /// LSTM layers (1 for the seed's network).
    pub fn layers(&self) -> usize {
        1 + self.upper.len()
    }

    /// The tensors of the layers above the first by their weights-file names, with their shapes.
    pub fn upper_tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        let h = self.hidden;
        let mut out = Vec::with_capacity(3 * self.upper.len());
        for (i, layer) in self.upper.iter().enumerate() {
            let l = i + 2;
            out.push((
                layer_tensor_name(l, "kernel"),
                vec![h, 4 * h],
                layer.kernel.as_slice(),
            ));
            out.push((
                layer_tensor_name(l, "recurrent_kernel"),
                vec![h, 4 * h],
                layer.recurrent_kernel.as_slice(),
            ));
            out.push((
                layer_tensor_name(l, "bias"),
                vec![4 * h],
                layer.bias.as_slice(),
            ));
        }
        out
    }

    /// The five buffers, in weights-file order (kernel, recurrent kernel, bias, dense kernel,
    /// dense bias), for filling them.
    pub fn tensors_mut(&mut self) -> [&mut Vec<f32>; 5] {
        [
            &mut self.kernel,
            &mut self.recurrent_kernel,
            &mut self.bias,
            &mut self.dense_kernel,
            &mut self.dense_bias,
        ]
    }

    /// The tensors by their weights-file names, with their shapes.
    pub fn tensors(&self) -> [(&'static str, Vec<usize>, &[f32]); 5] {
        let (n, h) = (self.n_values, self.hidden);
        [
            ("lstm.kernel", vec![n, 4 * h], &self.kernel),
            (
                "lstm.recurrent_kernel",
                vec![h, 4 * h],
                &self.recurrent_kernel,
            ),
            ("lstm.bias", vec![4 * h], &self.bias),
            ("dense.kernel", vec![h, n], &self.dense_kernel),
            ("dense.bias", vec![n], &self.dense_bias),
        ]
    }

    /// Checks every buffer length against `n_values` and `hidden`, and every
    /// number for finiteness and for magnitude (at most [`MAX_WEIGHT`]);
    /// names the first problem.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.n_values == 0 {
            return Err(ModelError("the model has no values (n_values = 0)".into()));
        }
        if self.hidden == 0 {
            return Err(ModelError(
                "the model has no hidden units (hidden = 0)".into(),
            ));
        }
        if self.layers() > MAX_LAYERS {
            return Err(ModelError(format!(
                "the model has {} LSTM layers; jazz-synth plays 1 to {MAX_LAYERS}",
                self.layers()
            )));
        }
        let base = self
            .tensors()
            .into_iter()
            .map(|(name, shape, data)| (name.to_string(), shape, data));
        for (name, shape, data) in base.chain(self.upper_tensors()) {
            let expected: usize = shape.iter().product();
            if data.len() != expected {
                return Err(ModelError(format!(
                    "tensor `{name}` has {} numbers, expected {expected} for shape {shape:?}",
                    data.len()
                )));
            }
            if let Some(i) = data.iter().position(|x| !x.is_finite()) {
                return Err(ModelError(format!(
                    "tensor `{name}` holds a non-finite number ({}) at flat index {i}",
                    data[i]
                )));
            }
            if let Some(i) = data.iter().position(|x| x.abs() > MAX_WEIGHT) {
                return Err(ModelError(format!(
                    "tensor `{name}` holds {} at flat index {i}, beyond the ±{MAX_WEIGHT} a \
                     network's sums stay finite with (the training run diverged?)",
                    data[i]
                )));
            }
        }
        Ok(())
    }
}

/// One training file a model learned from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingFile {
    /// File name as given to the trainer.
    pub name: String,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Which tracks gave the melody and the chords, and why (the automatic mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracks: Option<String>,
}

/// Largest weight magnitude a model may hold. Trained weights stay within a few units (the
/// shipped model's largest is about 1.1); the bound keeps every sum of a step finite: a gate or
/// logit adds at most `hidden + 2` terms of at most this size (|h| ≤ 1), so with 4096 hidden units
/// sums stay below 5e9, where finite but huge weights (3e38) would add up to infinities and give
/// NaN probabilities.
pub const MAX_WEIGHT: f32 = 1e6;

/// Most LSTM layers a model may stack.
pub const MAX_LAYERS: usize = 8;

/// Where a model came from. Stored as JSON strings in the weights file's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The files the corpus was built from.
    pub training_files: Vec<TrainingFile>,
    /// Hyper-parameters by name (epochs, lr, windows, tx, seed, ...).
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    /// Loss of the last epoch, summed over the Tx outputs as Keras prints it.
    pub final_loss: Option<f32>,
    /// Training accuracy of the last epoch (0..1).
    pub final_accuracy: Option<f32>,
    /// How often the training melodies moved by each interval onto each role: what the learned
    /// decoder ([`crate::music::contour`]) follows. Absent in files from before it existed,
    /// which then decode like the original.
    pub intervals: Option<IntervalProfile>,
    /// The figures of the training melodies, for comparing solos with them.
    pub corpus_stats: Option<Figures>,
    /// Held-out evaluation at the end of training.
    pub validation: Option<Validation>,
    /// The learned pitch and length distributions of a chord-aware model
    /// ([`crate::music::pitch`]); absent in older files.
    pub pitch_model: Option<PitchModel>,
    /// What the model learned from, by name (corpus, citation, split, figures), as JSON.
    pub corpus: Option<serde_json::Value>,
}

/// Per-value negative log-likelihood (natural log) of values held out of training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Values predicted (targets).
    pub values: usize,
    /// The model's mean negative log-likelihood per value.
    pub nll: f64,
    /// The unigram baseline's (training frequencies, add-one smoothed).
    pub unigram_nll: f64,
    /// Share of targets the model ranks first.
    pub accuracy: f64,
}

/// The extra inputs of a chord-aware model: beside the one-hot of the previous value, a vector
/// of `size` numbers laid out as `layout` names ([`crate::music::conditioning`]), multiplied by
/// `kernel` (`[size, 4H]`, Keras gate order) into the gates.
#[derive(Clone, Debug, PartialEq)]
pub struct Conditioning {
    /// Name of the input layout (`jazz-synth/cond-1`, or `jazz-synth/cond-2` with styles).
    pub layout: String,
    /// Numbers in the conditioning vector.
    pub size: usize,
    /// `[size, 4H]`.
    pub kernel: Vec<f32>,
    /// The styles the model learned, in the order of its style inputs (`cond-2`: the last
    /// `styles.len()` of the `size` numbers); empty for a model without styles.
    pub styles: Vec<String>,
    /// `[styles.len(), n_values]`: each style's row of the dense layer, added (times the style
    /// input) to the logits, so a style shifts the output directly as well as through the
    /// gates. Empty: no such rows (every model trained before they existed).
    pub style_dense: Vec<f32>,
}

/// A model that cannot be built: names the inconsistency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

// The gate product is computed a block of hidden units at a time: a block
// holds the i, f, g and o pre-activations of UNITS consecutive units (4 ×
// UNITS = 64 columns = 8 AVX registers of accumulators, enough independent
// multiply-add chains to keep both FMA units busy). The block's activations
// and state update then happen while its accumulators are still in
// registers, and overlap with the next block's weight loads. The output
// layer uses blocks of 96 columns (12 registers) so the seed's 90 values pad
// to 96, not 128. At the seed size a step is bound by streaming ~90 KB of
// weights from L2, so padding bytes cost time directly.
const UNITS: usize = 16;
const GATE_BLOCK: usize = 4 * UNITS;
const DENSE_BLOCK: usize = 96;

/// Column of a Keras `[.., 4H]` gate matrix that lane `j` of gate block `b`
/// holds, or `None` for the padding of the last block when `H` is not a
/// multiple of [`UNITS`].
fn gate_column(b: usize, j: usize, hidden: usize) -> Option<usize> {
    let (gate, unit) = (j / UNITS, b * UNITS + j % UNITS);
    (unit < hidden).then_some(gate * hidden + unit)
}

/// Rearranges the columns of a row-major `[rows, 4H]` gate matrix into gate
/// blocks, `packed[(b * rows + r) * GATE_BLOCK + j] = m[r, gate_column(b, j)]`
/// (zero for padding), so the product streams memory in order.
fn pack_gates(m: &[f32], rows: usize, hidden: usize) -> Vec<f32> {
    let blocks = hidden.div_ceil(UNITS);
    let mut packed = vec![0.0; blocks * rows * GATE_BLOCK];
    for b in 0..blocks {
        for r in 0..rows {
            for j in 0..GATE_BLOCK {
                if let Some(col) = gate_column(b, j, hidden) {
                    packed[(b * rows + r) * GATE_BLOCK + j] = m[r * 4 * hidden + col];
                }
            }
        }
    }
    packed
}

/// Reorders the columns of each row of a `[rows, 4H]` gate matrix into gate
/// block order, rows staying whole: `out[r * width + b * GATE_BLOCK + j] =
/// m[r, gate_column(b, j)]`. Used for the kernel (one row per value) and bias.
fn pack_gate_rows(m: &[f32], rows: usize, hidden: usize) -> Vec<f32> {
    let blocks = hidden.div_ceil(UNITS);
    let width = blocks * GATE_BLOCK;
    let mut packed = vec![0.0; rows * width];
    for r in 0..rows {
        for b in 0..blocks {
            for j in 0..GATE_BLOCK {
                if let Some(col) = gate_column(b, j, hidden) {
                    packed[r * width + b * GATE_BLOCK + j] = m[r * 4 * hidden + col];
                }
            }
        }
    }
    packed
}

/// Copies a row-major `[rows, cols]` matrix into column blocks of `BLOCK`,
/// `packed[(b * rows + r) * BLOCK + j] = m[r, b * BLOCK + j]`, zero-padded
/// to a whole number of blocks.
fn pack_blocks<const BLOCK: usize>(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let blocks = cols.div_ceil(BLOCK);
    let mut packed = vec![0.0; blocks * rows * BLOCK];
    for b in 0..blocks {
        for r in 0..rows {
            for j in 0..BLOCK {
                let col = b * BLOCK + j;
                if col < cols {
                    packed[(b * rows + r) * BLOCK + j] = m[r * cols + col];
                }
            }
        }
    }
    packed
}

/// The inference model: parameters, vocabulary, provenance and the state
/// the next [`Model::step`] continues from. All buffers are allocated in
/// [`Model::new`]; stepping never allocates. Moving a `Model` (or a
/// `Box<Model>`) moves only pointers.
#[derive(Clone, Debug)]
pub struct Model {
    params: LstmParams,
    vocab: Vec<Value>,
    provenance: Provenance,
    /// `kernel` with its columns in gate-block order, one row per value,
    /// followed by one row of zeros for the all-zero input.
    kernel_packed: AlignedF32,
    /// `bias` in gate-block order.
    bias_packed: AlignedF32,
    /// `recurrent_kernel` packed by [`pack_gates`].
    recurrent_packed: AlignedF32,
    /// `dense_kernel` packed by [`pack_blocks`] with zero-padded columns.
    dense_packed: AlignedF32,
    /// `dense_bias` zero-padded to the packed width.
    dense_bias_padded: AlignedF32,
    /// Hidden state, padded to whole gate blocks (padding stays 0).
    h: AlignedF32,
    /// The step's new hidden state, swapped with `h` at the end of the step.
    h_next: AlignedF32,
    /// Cell state, padded like `h`.
    c: AlignedF32,
    /// Logits, then probabilities; padded to the packed width.
    probs: AlignedF32,
    /// Use the AVX2+FMA kernel (detected once, at construction).
    fast: bool,
    /// The conditioning inputs, if the model has them.
    conditioning: Option<Conditioning>,
    /// Their kernel with its columns in gate-block order, one row per input.
    cond_packed: AlignedF32,
    /// The step's input row: the value's kernel row plus the conditioning's product.
    x_scratch: AlignedF32,
    /// The step's dense bias with the style rows added (padded like `dense_bias_padded`;
    /// empty for a model without style rows).
    bias_scratch: AlignedF32,
    /// The LSTM layers above the first, packed, with their state.
    upper: Vec<UpperLayer>,
    /// The second state [`Model::step_guided`] runs unconditioned, allocated with the model.
    spare: SpareState,
}

/// A second LSTM state (every layer's `h` and `c`) and the probabilities of its last step:
/// what the model would play with the style withheld, for classifier-free guidance.
#[derive(Clone, Debug)]
struct SpareState {
    h: AlignedF32,
    c: AlignedF32,
    /// `h` and `c` of each upper layer.
    upper: Vec<(AlignedF32, AlignedF32)>,
    /// The styled pass's probabilities while the unconditioned pass runs.
    probs: AlignedF32,
    /// Whether the spare state followed every step since the last reset; when not, the next
    /// guided step starts it from the main state.
    in_step: bool,
}

/// An LSTM layer above the first: its packed weights and its state, allocated at construction.
#[derive(Clone, Debug)]
struct UpperLayer {
    /// The input kernel (`[H, 4H]`, from the layer below) packed by [`pack_gates`].
    kernel_packed: AlignedF32,
    /// The recurrent kernel packed by [`pack_gates`].
    recurrent_packed: AlignedF32,
    /// The bias in gate-block order.
    bias_packed: AlignedF32,
    /// Hidden state, padded like the first layer's.
    h: AlignedF32,
    h_next: AlignedF32,
    c: AlignedF32,
    /// The step's input product (the layer below's `h` times the input kernel).
    x: AlignedF32,
}

impl UpperLayer {
    fn new(p: &LayerParams, hidden: usize) -> UpperLayer {
        let h_padded = hidden.div_ceil(UNITS) * UNITS;
        UpperLayer {
            kernel_packed: AlignedF32::from_slice(&pack_gates(&p.kernel, hidden, hidden)),
            recurrent_packed: AlignedF32::from_slice(&pack_gates(
                &p.recurrent_kernel,
                hidden,
                hidden,
            )),
            bias_packed: AlignedF32::from_slice(&pack_gate_rows(&p.bias, 1, hidden)),
            h: AlignedF32::zeros(h_padded),
            h_next: AlignedF32::zeros(h_padded),
            c: AlignedF32::zeros(h_padded),
            x: AlignedF32::zeros(hidden.div_ceil(UNITS) * GATE_BLOCK),
        }
    }
}

impl Model {
    /// Builds a model and its state buffers. The vocabulary must have one
    /// entry per value; parameters must be consistent and finite.
    pub fn new(
        params: LstmParams,
        vocab: Vec<Value>,
        provenance: Provenance,
    ) -> Result<Model, ModelError> {
        params.validate()?;
        if vocab.len() != params.n_values {
            return Err(ModelError(format!(
                "the vocabulary has {} values but the network has {} outputs",
                vocab.len(),
                params.n_values
            )));
        }
        let (n, h) = (params.n_values, params.hidden);
        let h_padded = h.div_ceil(UNITS) * UNITS;
        let padded = n.div_ceil(DENSE_BLOCK) * DENSE_BLOCK;
        let mut dense_bias_padded = AlignedF32::zeros(padded);
        dense_bias_padded[..n].copy_from_slice(&params.dense_bias);
        // Padding units have zero weights and bias, so their c and h stay 0.
        let mut kernel_packed = pack_gate_rows(&params.kernel, n, h);
        kernel_packed.resize(kernel_packed.len() + 4 * h_padded, 0.0);
        let aligned = |v: Vec<f32>| AlignedF32::from_slice(&v);
        Ok(Model {
            kernel_packed: aligned(kernel_packed),
            bias_packed: aligned(pack_gate_rows(&params.bias, 1, h)),
            recurrent_packed: aligned(pack_gates(&params.recurrent_kernel, h, h)),
            dense_packed: aligned(pack_blocks::<DENSE_BLOCK>(&params.dense_kernel, h, n)),
            dense_bias_padded,
            h: AlignedF32::zeros(h_padded),
            h_next: AlignedF32::zeros(h_padded),
            c: AlignedF32::zeros(h_padded),
            probs: AlignedF32::zeros(padded),
            fast: simd_available(),
            conditioning: None,
            cond_packed: AlignedF32::zeros(0),
            x_scratch: AlignedF32::zeros(h.div_ceil(UNITS) * GATE_BLOCK),
            bias_scratch: AlignedF32::zeros(0),
            upper: params.upper.iter().map(|l| UpperLayer::new(l, h)).collect(),
            spare: SpareState {
                h: AlignedF32::zeros(h_padded),
                c: AlignedF32::zeros(h_padded),
                upper: params
                    .upper
                    .iter()
                    .map(|_| (AlignedF32::zeros(h_padded), AlignedF32::zeros(h_padded)))
                    .collect(),
                probs: AlignedF32::zeros(padded),
                in_step: true,
            },
            params,
            vocab,
            provenance,
        })
    }

    /// Adds conditioning inputs (see [`Conditioning`]); checks the kernel's size and numbers.
    pub fn with_conditioning(mut self, conditioning: Conditioning) -> Result<Model, ModelError> {
        let h = self.params.hidden;
        let expected = conditioning.size * 4 * h;
        if conditioning.size == 0 || conditioning.size > 4096 {
            return Err(ModelError(format!(
                "the conditioning has {} inputs; expected 1 to 4096",
                conditioning.size
            )));
        }
        if !conditioning.styles.is_empty() {
            crate::music::style::check_list(&conditioning.styles).map_err(ModelError)?;
            let want = crate::music::conditioning::COND_SIZE + conditioning.styles.len();
            if conditioning.size != want {
                return Err(ModelError(format!(
                    "the conditioning has {} inputs; {} styles need {want}",
                    conditioning.size,
                    conditioning.styles.len()
                )));
            }
        }
        if conditioning.kernel.len() != expected {
            return Err(ModelError(format!(
                "the conditioning kernel has {} numbers, expected {expected} for shape [{}, {}]",
                conditioning.kernel.len(),
                conditioning.size,
                4 * h
            )));
        }
        if let Some(i) = conditioning
            .kernel
            .iter()
            .position(|x| !x.is_finite() || x.abs() > MAX_WEIGHT)
        {
            return Err(ModelError(format!(
                "the conditioning kernel holds {} at flat index {i}, not a finite number within \
                 ±{MAX_WEIGHT}",
                conditioning.kernel[i]
            )));
        }
        let n = self.params.n_values;
        if !conditioning.style_dense.is_empty() {
            let want = conditioning.styles.len() * n;
            if conditioning.style_dense.len() != want {
                return Err(ModelError(format!(
                    "the dense layer's style rows have {} numbers, expected {want} for shape \
                     [{}, {n}]",
                    conditioning.style_dense.len(),
                    conditioning.styles.len()
                )));
            }
            if let Some(i) = conditioning
                .style_dense
                .iter()
                .position(|x| !x.is_finite() || x.abs() > MAX_WEIGHT)
            {
                return Err(ModelError(format!(
                    "the dense layer's style rows hold {} at flat index {i}, not a finite number \
                     within ±{MAX_WEIGHT}",
                    conditioning.style_dense[i]
                )));
            }
            self.bias_scratch = AlignedF32::zeros(self.dense_bias_padded.len());
        }
        self.cond_packed =
            AlignedF32::from_slice(&pack_gate_rows(&conditioning.kernel, conditioning.size, h));
        self.conditioning = Some(conditioning);
        Ok(self)
    }

    /// The conditioning inputs, if the model has them.
    pub fn conditioning(&self) -> Option<&Conditioning> {
        self.conditioning.as_ref()
    }

    /// The styles the model learned, in knob order after "any" (empty for most models).
    pub fn styles(&self) -> &[String] {
        self.conditioning.as_ref().map_or(&[], |c| &c.styles)
    }

    /// Numbers a conditioning vector has for this model (0 when it takes none).
    pub fn cond_size(&self) -> usize {
        self.conditioning.as_ref().map_or(0, |c| c.size)
    }

    /// [`Model::step`] with the conditioning vector `cond` (its first [`Model::cond_size`]
    /// numbers are read; a model without conditioning ignores it; a shorter slice counts
    /// its missing numbers as 0). Never allocates, locks or blocks.
    pub fn step_with(&mut self, input: Option<usize>, cond: &[f32]) -> &[f32] {
        let size = self.cond_size();
        if size == 0 {
            return self.step(input);
        }
        self.step_conditioned(input, cond, size)
    }

    /// The step of [`Model::step_with`] for a model with `size` conditioning inputs.
    fn step_conditioned(&mut self, input: Option<usize>, cond: &[f32], size: usize) -> &[f32] {
        let n = self.params.n_values;
        let row = input.filter(|&i| i < n).unwrap_or(n);
        let width = self.bias_packed.len();
        self.x_scratch
            .copy_from_slice(&self.kernel_packed[row * width..(row + 1) * width]);
        for (k, &x) in cond.iter().take(size).enumerate() {
            if x != 0.0 {
                let w = &self.cond_packed[k * width..(k + 1) * width];
                for (acc, &w) in self.x_scratch.iter_mut().zip(w) {
                    *acc += x * w;
                }
            }
        }
        // The dense bias with the set styles' rows, only when a style is set ("any" keeps the
        // plain bias, without a copy).
        let block = match &self.conditioning {
            Some(c) if !self.bias_scratch.is_empty() => {
                cond.get(size - c.styles.len()..size).unwrap_or(&[])
            }
            _ => &[],
        };
        let styled_bias = match &self.conditioning {
            Some(c) if block.iter().any(|&x| x != 0.0) => {
                self.bias_scratch.copy_from_slice(&self.dense_bias_padded);
                for (k, &x) in block.iter().enumerate() {
                    if x != 0.0 {
                        let row = &c.style_dense[k * n..(k + 1) * n];
                        for (acc, &w) in self.bias_scratch[..n].iter_mut().zip(row) {
                            *acc += x * w;
                        }
                    }
                }
                true
            }
            _ => false,
        };
        self.step_row(None, n, styled_bias)
    }

    /// Classifier-free guidance: one step of the main state with `cond` (a style set) and one
    /// of the spare state with `plain` (the reference: the same with another style block, e.g.
    /// the engine's average of the styles), both on `input`,
    /// and the probabilities `softmax(l_plain + strength · (l_cond − l_plain))` of the two
    /// passes' logits `l` (as factor: 1 is the styled pass, 0 the plain one, above 1 the style
    /// exaggerated). Log-probabilities stand for the logits: softmax ignores the constant
    /// between them. At `strength` 0 the plain pass's probabilities are returned as they are.
    ///
    /// The spare state follows the main one from the last [`Model::reset`] while every step is
    /// guided; after unguided steps ([`Model::step_with`]) it starts again from the main state.
    /// A model without conditioning steps once, as [`Model::step`]. Never allocates, locks or
    /// blocks.
    pub fn step_guided(
        &mut self,
        input: Option<usize>,
        cond: &[f32],
        plain: &[f32],
        strength: f32,
    ) -> &[f32] {
        let size = self.cond_size();
        if size == 0 {
            return self.step(input);
        }
        let n = self.params.n_values;
        if !self.spare.in_step {
            self.copy_state_to_spare();
        }
        self.step_conditioned(input, cond, size);
        std::mem::swap(&mut self.probs, &mut self.spare.probs);
        self.swap_spare();
        self.step_conditioned(input, plain, size);
        self.swap_spare();
        self.spare.in_step = true;
        if strength == 0.0 {
            return &self.probs[..n];
        }
        // Probabilities are never exactly 0 from the softmax, but a floor keeps ln finite.
        let floor = f32::MIN_POSITIVE;
        let mut max = f32::NEG_INFINITY;
        for (p, &s) in self.probs[..n].iter_mut().zip(&self.spare.probs[..n]) {
            let plain = p.max(floor).ln();
            let styled = s.max(floor).ln();
            let logit = plain + strength * (styled - plain);
            *p = if logit.is_nan() {
                f32::NEG_INFINITY
            } else {
                logit
            };
            max = max.max(*p);
        }
        if !max.is_finite() {
            // Only a strength that is not a number gets here: play the styled pass.
            self.probs[..n].copy_from_slice(&self.spare.probs[..n]);
            return &self.probs[..n];
        }
        let mut sum = 0.0f64;
        for p in self.probs[..n].iter_mut() {
            *p = (*p - max).exp();
            sum += f64::from(*p);
        }
        let inv = (1.0 / sum) as f32;
        for p in self.probs[..n].iter_mut() {
            *p *= inv;
        }
        &self.probs[..n]
    }

    /// Exchanges the main LSTM state with the spare one (pointers only).
    fn swap_spare(&mut self) {
        std::mem::swap(&mut self.h, &mut self.spare.h);
        std::mem::swap(&mut self.c, &mut self.spare.c);
        for (layer, (h, c)) in self.upper.iter_mut().zip(&mut self.spare.upper) {
            std::mem::swap(&mut layer.h, h);
            std::mem::swap(&mut layer.c, c);
        }
    }

    fn copy_state_to_spare(&mut self) {
        self.spare.h.copy_from_slice(&self.h);
        self.spare.c.copy_from_slice(&self.c);
        for (layer, (h, c)) in self.upper.iter().zip(&mut self.spare.upper) {
            h.copy_from_slice(&layer.h);
            c.copy_from_slice(&layer.c);
        }
    }

    /// Zero hidden and cell state (the spare state of [`Model::step_guided`] too): the state
    /// before the original's first step.
    pub fn reset(&mut self) {
        self.h.fill(0.0);
        self.c.fill(0.0);
        for layer in &mut self.upper {
            layer.h.fill(0.0);
            layer.c.fill(0.0);
        }
        self.spare.h.fill(0.0);
        self.spare.c.fill(0.0);
        for (h, c) in &mut self.spare.upper {
            h.fill(0.0);
            c.fill(0.0);
        }
        self.spare.in_step = true;
    }

    /// Advances one time step and returns the softmax probabilities over the
    /// vocabulary (`n_values` entries, summing to 1).
    ///
    /// `input` is the index of the one-hot input value, or `None` for the
    /// all-zero input of the original's first step. An index outside the
    /// vocabulary is a caller bug: it asserts in debug builds and counts as
    /// `None` in release builds, so the audio thread never panics.
    ///
    /// Never allocates, locks or blocks.
    pub fn step(&mut self, input: Option<usize>) -> &[f32] {
        let n = self.params.n_values;
        debug_assert!(input.is_none_or(|i| i < n), "input index out of range");
        // Row n of the packed kernel is the zero row.
        let row = input.filter(|&i| i < n).unwrap_or(n);
        self.step_row(Some(row), n, false)
    }

    /// One step with the input row `row` of the packed kernel, or the scratch row (`None`),
    /// and the dense bias with the style rows added (`styled_bias`) or as it is.
    fn step_row(&mut self, row: Option<usize>, n: usize, styled_bias: bool) -> &[f32] {
        self.spare.in_step = false;
        let width = self.bias_packed.len();
        let x_row: &[f32] = match row {
            Some(row) => &self.kernel_packed[row * width..(row + 1) * width],
            None => &self.x_scratch,
        };
        let kernels = Kernels {
            x_row,
            bias: &self.bias_packed,
            recurrent_packed: &self.recurrent_packed,
            dense_packed: &self.dense_packed,
            dense_bias: if styled_bias {
                &self.bias_scratch
            } else {
                &self.dense_bias_padded
            },
            hidden: self.params.hidden,
        };
        let state = State {
            h: &self.h,
            h_next: &mut self.h_next,
            c: &mut self.c,
            probs: &mut self.probs,
        };
        let upper = &mut self.upper[..];
        #[cfg(target_arch = "x86_64")]
        if self.fast {
            // SAFETY: `fast` is only set when the CPU reports AVX2 and FMA.
            unsafe { step_avx2_fma(&kernels, state, upper, n) };
        } else {
            step_portable(&kernels, state, upper, n);
        }
        #[cfg(not(target_arch = "x86_64"))]
        step_portable(&kernels, state, upper, n);
        std::mem::swap(&mut self.h, &mut self.h_next);
        &self.probs[..n]
    }

    /// Chooses the portable kernel (no FMA) even where AVX2+FMA exists, so
    /// results are bit-identical across x86-64 machines. Off by default:
    /// the fast kernel rounds fused multiply-adds once instead of twice.
    pub fn set_portable(&mut self, portable: bool) {
        self.fast = !portable && simd_available();
    }

    /// Hidden state `h` of the top LSTM layer (what the output layer reads) after the last step
    /// (`H` entries).
    pub fn hidden(&self) -> &[f32] {
        match self.upper.last() {
            Some(layer) => &layer.h[..self.params.hidden],
            None => &self.h[..self.params.hidden],
        }
    }

    /// Cell state `c` of the top LSTM layer after the last step (`H` entries).
    pub fn cell(&self) -> &[f32] {
        match self.upper.last() {
            Some(layer) => &layer.c[..self.params.hidden],
            None => &self.c[..self.params.hidden],
        }
    }

    /// Hidden state of LSTM layer `layer` (0 = the first) after the last step (`H` entries),
    /// or `None` past the top layer.
    pub fn layer_hidden(&self, layer: usize) -> Option<&[f32]> {
        let hidden = self.params.hidden;
        match layer {
            0 => Some(&self.h[..hidden]),
            l => self.upper.get(l - 1).map(|u| &u.h[..hidden]),
        }
    }

    /// LSTM layers stacked (1 for the seed's network).
    pub fn layers(&self) -> usize {
        1 + self.upper.len()
    }

    /// Probabilities of the last step (zeros before the first).
    pub fn probabilities(&self) -> &[f32] {
        &self.probs[..self.params.n_values]
    }

    /// Overwrites hidden and cell state (both `H` entries) of a one-layer model, e.g. to resume
    /// a saved improvisation. Lengths other than `H`, or a stacked model, are refused (returns
    /// false).
    pub fn set_state(&mut self, h: &[f32], c: &[f32]) -> bool {
        let hidden = self.params.hidden;
        if h.len() != hidden || c.len() != hidden || !self.upper.is_empty() {
            return false;
        }
        self.h[..hidden].copy_from_slice(h);
        self.c[..hidden].copy_from_slice(c);
        self.spare.in_step = false;
        true
    }

    /// Number of distinct values (input and output width).
    pub fn n_values(&self) -> usize {
        self.params.n_values
    }

    /// Hidden units `H`.
    pub fn hidden_size(&self) -> usize {
        self.params.hidden
    }

    /// The values, in index order.
    pub fn vocab(&self) -> &[Value] {
        &self.vocab
    }

    /// The learned parameters (Keras layout).
    pub fn params(&self) -> &LstmParams {
        &self.params
    }

    /// Where the model came from.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Replaces the provenance record (e.g. after importing weights).
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = provenance;
    }
}

/// Whether this CPU runs the AVX2/FMA kernels (the inference step and the trainer's fused kernel).
pub(crate) fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

struct Kernels<'a> {
    /// Packed kernel row of the input (the zero row for no input).
    x_row: &'a [f32],
    bias: &'a [f32],
    recurrent_packed: &'a [f32],
    dense_packed: &'a [f32],
    dense_bias: &'a [f32],
    /// Unpadded hidden size: the number of rows of the recurrent product.
    hidden: usize,
}

struct State<'a> {
    h: &'a [f32],
    h_next: &'a mut [f32],
    c: &'a mut [f32],
    probs: &'a mut [f32],
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn step_avx2_fma(k: &Kernels<'_>, s: State<'_>, upper: &mut [UpperLayer], n_values: usize) {
    if upper.is_empty() {
        step_kernel::<true>(k, s, n_values);
    } else {
        stack_kernel::<true>(k, s, upper, n_values);
    }
}

/// The portable kernel (no FMA), for one layer or a stack.
fn step_portable(k: &Kernels<'_>, s: State<'_>, upper: &mut [UpperLayer], n_values: usize) {
    if upper.is_empty() {
        step_kernel::<false>(k, s, n_values);
    } else {
        stack_kernel::<false>(k, s, upper, n_values);
    }
}

/// `a * b + c`, fused where the caller is compiled with FMA (a plain
/// multiply-add would not be contracted by the compiler).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `out[b*BLOCK + j] += Σ_r v[r] · packed[(b*rows + r)*BLOCK + j]`, one
/// block of outputs at a time with its accumulators in registers.
#[inline(always)]
fn matvec_accumulate<const FMA: bool, const BLOCK: usize>(
    v: &[f32],
    packed: &[f32],
    out: &mut [f32],
) {
    let rows = v.len();
    for (block, out) in packed
        .chunks_exact(rows * BLOCK)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let (block_rows, _) = block.as_chunks::<BLOCK>();
        let mut acc = [0.0f32; BLOCK];
        acc.copy_from_slice(out);
        for (&vr, row) in v.iter().zip(block_rows) {
            for j in 0..BLOCK {
                acc[j] = madd::<FMA>(vr, row[j], acc[j]);
            }
        }
        out.copy_from_slice(&acc);
    }
}

/// e^x for x in about [-87, 88], relative error ~1e-7, written so the
/// compiler vectorizes it: round-to-nearest by the 1.5·2^23 trick, a
/// degree-7 Taylor polynomial on |r| ≤ ln2/2, 2^n built from the exponent bits.
#[inline(always)]
pub(crate) fn exp_fast<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.0, 88.0);
    let t = madd::<FMA>(x, LOG2E, ROUND);
    let n = t - ROUND;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    // Estrin's scheme: the same polynomial as Horner's rule, evaluated as a
    // tree, halving the chain of dependent multiply-adds (latency is what a
    // step waits on here, not throughput).
    let r2 = r * r;
    let p01 = r + 1.0;
    let p23 = madd::<FMA>(r, 1.0 / 6.0, 0.5);
    let p45 = madd::<FMA>(r, 1.0 / 120.0, 1.0 / 24.0);
    let p67 = madd::<FMA>(r, 1.0 / 5040.0, 1.0 / 720.0);
    let q03 = madd::<FMA>(r2, p23, p01);
    let q47 = madd::<FMA>(r2, p67, p45);
    let p = madd::<FMA>(r2 * r2, q47, q03);
    // t's low mantissa bits hold n + 2^22 (two's complement for negative n).
    let n_int = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    p * scale
}

#[inline(always)]
pub(crate) fn sigmoid_fast<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast::<FMA>(-x))
}

#[inline(always)]
pub(crate) fn tanh_fast<const FMA: bool>(x: f32) -> f32 {
    // tanh x = 2σ(2x) − 1; absolute error stays ~1e-7 near 0.
    2.0 * sigmoid_fast::<FMA>(2.0 * x) - 1.0
}

#[inline(always)]
fn step_kernel<const FMA: bool>(k: &Kernels<'_>, s: State<'_>, n_values: usize) {
    lstm_cell::<FMA>(
        k.x_row,
        k.bias,
        k.recurrent_packed,
        k.hidden,
        s.h,
        s.h_next,
        s.c,
    );
    dense_softmax::<FMA>(
        &s.h_next[..k.hidden],
        k.dense_packed,
        k.dense_bias,
        s.probs,
        n_values,
    );
}

/// [`step_kernel`] through a stack of LSTM layers: the first layer as there, then each upper
/// layer on the new hidden state of the one below, then the dense layer on the top one. Each
/// upper layer's `h` holds its new state when this returns; the first layer's is in `s.h_next`.
#[inline(always)]
fn stack_kernel<const FMA: bool>(
    k: &Kernels<'_>,
    s: State<'_>,
    upper: &mut [UpperLayer],
    n_values: usize,
) {
    let hidden = k.hidden;
    lstm_cell::<FMA>(
        k.x_row,
        k.bias,
        k.recurrent_packed,
        hidden,
        s.h,
        s.h_next,
        s.c,
    );
    for i in 0..upper.len() {
        let (done, rest) = upper.split_at_mut(i);
        let below: &[f32] = match done.last() {
            Some(layer) => &layer.h,
            None => s.h_next,
        };
        let layer = &mut rest[0];
        layer.x.fill(0.0);
        matvec_accumulate::<FMA, GATE_BLOCK>(&below[..hidden], &layer.kernel_packed, &mut layer.x);
        lstm_cell::<FMA>(
            &layer.x,
            &layer.bias_packed,
            &layer.recurrent_packed,
            hidden,
            &layer.h,
            &mut layer.h_next,
            &mut layer.c,
        );
        std::mem::swap(&mut layer.h, &mut layer.h_next);
    }
    let top: &[f32] = match upper.last() {
        Some(layer) => &layer.h,
        None => s.h_next,
    };
    dense_softmax::<FMA>(
        &top[..hidden],
        k.dense_packed,
        k.dense_bias,
        s.probs,
        n_values,
    );
}

/// One LSTM layer's step: `z = bias + x_row + h_old · recurrent` a gate block at a time, then
/// the gates, the new cell state (in `c`) and the new hidden state (in `h_next`).
#[inline(always)]
fn lstm_cell<const FMA: bool>(
    x_row: &[f32],
    bias: &[f32],
    recurrent_packed: &[f32],
    hidden: usize,
    h_old: &[f32],
    h_next: &mut [f32],
    c: &mut [f32],
) {
    let h_old = &h_old[..hidden];
    let (x_row, _) = x_row.as_chunks::<GATE_BLOCK>();
    let (bias, _) = bias.as_chunks::<GATE_BLOCK>();
    let (c, _) = c.as_chunks_mut::<UNITS>();
    let (h_next, _) = h_next.as_chunks_mut::<UNITS>();
    let blocks = recurrent_packed.chunks_exact(hidden * GATE_BLOCK);
    for ((((weights, x_row), bias), c), h_next) in blocks.zip(x_row).zip(bias).zip(c).zip(h_next) {
        // z = bias + x·kernel + h·recurrent_kernel for this block's units.
        let mut z = [0.0f32; GATE_BLOCK];
        for j in 0..GATE_BLOCK {
            z[j] = bias[j] + x_row[j];
        }
        let (rows, _) = weights.as_chunks::<GATE_BLOCK>();
        for (&hr, row) in h_old.iter().zip(rows) {
            for j in 0..GATE_BLOCK {
                z[j] = madd::<FMA>(hr, row[j], z[j]);
            }
        }
        for u in 0..UNITS {
            let i = sigmoid_fast::<FMA>(z[u]);
            let f = sigmoid_fast::<FMA>(z[UNITS + u]);
            let g = tanh_fast::<FMA>(z[2 * UNITS + u]);
            let o = sigmoid_fast::<FMA>(z[3 * UNITS + u]);
            let cell = madd::<FMA>(f, c[u], i * g);
            c[u] = cell;
            h_next[u] = o * tanh_fast::<FMA>(cell);
        }
    }
}

/// The output layer and softmax: `probs = softmax(h · dense + dense_bias)` over the first
/// `n_values` entries.
#[inline(always)]
fn dense_softmax<const FMA: bool>(
    h: &[f32],
    dense_packed: &[f32],
    dense_bias: &[f32],
    probs: &mut [f32],
    n_values: usize,
) {
    probs.copy_from_slice(dense_bias);
    matvec_accumulate::<FMA, DENSE_BLOCK>(h, dense_packed, probs);
    softmax_in_place::<FMA>(&mut probs[..n_values]);
}

/// The largest of `values` (`low` for none), found in 8 lanes so the compiler vectorizes it;
/// `max` is the type's own (`f32::max`: NaNs are passed over). The order is fixed, so the
/// result is too.
#[inline(always)]
pub(crate) fn max_in_lanes<T: Copy>(values: &[T], low: T, max: impl Fn(T, T) -> T) -> T {
    let mut lanes = [low; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for j in 0..8 {
            lanes[j] = max(lanes[j], chunk[j]);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(low, |m, &x| max(m, x))
}

/// Replaces `logits` by their softmax; returns the largest logit and the sum of `e^(x − max)`
/// (so `ln sum + max − x` is the cross-entropy of `x`). The max and the sum run in 8 lanes so
/// the compiler vectorizes them; the order of the sums is fixed, so the result is too.
#[inline(always)]
pub(crate) fn softmax_in_place<const FMA: bool>(logits: &mut [f32]) -> (f32, f32) {
    let max = max_in_lanes(logits, f32::NEG_INFINITY, f32::max);
    for x in logits.iter_mut() {
        *x = exp_fast::<FMA>(*x - max);
    }
    let mut lanes = [0.0f32; 8];
    let mut chunks = logits.chunks_exact(8);
    for chunk in &mut chunks {
        for j in 0..8 {
            lanes[j] += chunk[j];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    sum += chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    for x in logits.iter_mut() {
        *x *= inv;
    }
    (max, sum)
}

/// Vocabularies up to this size sample from weights kept on the stack
/// (computed once); larger ones recompute them in a second pass.
const SAMPLE_STACK: usize = 512;

/// Draws a value index from `probs`.
///
/// `temperature` ≤ 0 (or NaN) takes the argmax, the first maximum on ties
/// (as `numpy.argmax`); this is the original's `predict_and_sample`. Otherwise
/// each probability is raised to `1 / temperature` and renormalised (deepjazz
/// used 0.5): see [`sample_with`]. Uses one `f64` from `rng` (none for the
/// argmax); never allocates. Returns 0 for an empty slice.
pub fn sample(probs: &[f32], temperature: f32, rng: &mut impl rand::Rng) -> usize {
    let mut stack = [0.0f32; SAMPLE_STACK];
    sample_with(probs, temperature, rng, &mut stack)
}

/// [`sample`] with the caller's scratch buffer for the tempered weights (the
/// engine keeps one per instance). The only sampler: the engine, `jazz-synth
/// sample` and the trainer's tools all draw through it, so a seed draws the
/// same values everywhere.
///
/// Weights are `(p / p_max)^(1/T)`, relative to the maximum so small
/// temperatures never underflow to an all-zero distribution: exact integer
/// powers when `1/T` is a whole number up to 16 (T = 1, deepjazz's 1/2, 1/3,
/// ...), else `exp((ln p − ln p_max) / T)`. Entries that are not positive are
/// never drawn. With a scratch buffer shorter than `probs` the weights are
/// computed twice instead of stored (same result).
pub fn sample_with(
    probs: &[f32],
    temperature: f32,
    rng: &mut impl rand::Rng,
    scratch: &mut [f32],
) -> usize {
    let best = argmax(probs);
    if temperature.is_nan() || temperature <= 0.0 || probs.is_empty() {
        return best;
    }
    let p_max = probs[best];
    if p_max.is_nan() || p_max <= 0.0 {
        return best;
    }
    let temper = Temper::new(p_max, temperature);
    let u = rng.random::<f64>();
    if let Some(weights) = scratch.get_mut(..probs.len()) {
        let mut total = 0.0f64;
        for (w, &p) in weights.iter_mut().zip(probs) {
            *w = temper.weight(p);
            total += f64::from(*w);
        }
        walk(weights.iter().copied(), u * total, best)
    } else {
        let total: f64 = probs.iter().map(|&p| f64::from(temper.weight(p))).sum();
        walk(probs.iter().map(|&p| temper.weight(p)), u * total, best)
    }
}

/// [`sample_with`] that never draws an index of `avoid` while another value has a positive
/// probability (the engine's loop guard, [`crate::model::guard::CycleGuard`]). With nothing to
/// avoid it is exactly [`sample_with`]. At temperature 0 it is the most likely value not
/// avoided. Never allocates.
pub fn sample_avoiding(
    probs: &[f32],
    temperature: f32,
    rng: &mut impl rand::Rng,
    scratch: &mut [f32],
    avoid: &[usize],
) -> usize {
    let avoided = |i: usize| avoid.contains(&i);
    let mut best = None;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 && !avoided(i) && best.is_none_or(|b: usize| p > probs[b]) {
            best = Some(i);
        }
    }
    let Some(best) = best
        .filter(|&b| avoid.iter().any(|&a| a < probs.len() && probs[a] > 0.0) && b < probs.len())
    else {
        return sample_with(probs, temperature, rng, scratch);
    };
    if temperature.is_nan() || temperature <= 0.0 {
        return best;
    }
    let temper = Temper::new(probs[best], temperature);
    let u = rng.random::<f64>();
    let weight = |(i, &p): (usize, &f32)| if avoided(i) { 0.0 } else { temper.weight(p) };
    let total: f64 = probs.iter().enumerate().map(|x| f64::from(weight(x))).sum();
    walk(probs.iter().enumerate().map(weight), u * total, best)
}

/// [`sample_avoiding`] with each value's tempered weight multiplied by `lean(index)` (≥ 0): the
/// engine leans an answer towards the moves of the call it answers. At temperature 0 it is the
/// value with the largest leaning probability not avoided. Never allocates.
pub fn sample_leaning(
    probs: &[f32],
    temperature: f32,
    rng: &mut impl rand::Rng,
    avoid: &[usize],
    lean: impl Fn(usize) -> f32,
) -> usize {
    let avoided = |i: usize| avoid.contains(&i);
    let mut best = None;
    for (i, &p) in probs.iter().enumerate() {
        let p = p * lean(i);
        if p > 0.0 && !avoided(i) && best.is_none_or(|(_, b)| p > b) {
            best = Some((i, p));
        }
    }
    let Some((best, _)) = best else {
        return argmax(probs);
    };
    if temperature.is_nan() || temperature <= 0.0 {
        return best;
    }
    let temper = Temper::new(probs[best], temperature);
    let u = rng.random::<f64>();
    let weight = |(i, &p): (usize, &f32)| {
        if avoided(i) {
            0.0
        } else {
            temper.weight(p) * lean(i).max(0.0)
        }
    };
    let total: f64 = probs.iter().enumerate().map(|x| f64::from(weight(x))).sum();
    walk(probs.iter().enumerate().map(weight), u * total, best)
}

/// How [`sample_with`] turns a probability into a weight.
#[derive(Clone, Copy)]
struct Temper {
    /// `1 / p_max`, for the integer powers.
    inv_max: f32,
    /// `1/T` when it is a whole number from 1 to 16.
    power: Option<i32>,
    log_max: f32,
    inv_t: f32,
}

impl Temper {
    fn new(p_max: f32, temperature: f32) -> Temper {
        let inv_t = 1.0 / temperature;
        let whole = inv_t.round();
        let power =
            ((inv_t - whole).abs() < 1e-6 && (1.0..=16.0).contains(&whole)).then_some(whole as i32);
        Temper {
            inv_max: 1.0 / p_max,
            power,
            log_max: p_max.ln(),
            inv_t,
        }
    }

    #[inline]
    fn weight(&self, p: f32) -> f32 {
        if p.is_nan() || p <= 0.0 {
            0.0
        } else if let Some(k) = self.power {
            (p * self.inv_max).powi(k)
        } else {
            ((p.ln() - self.log_max) * self.inv_t).exp()
        }
    }
}

/// The index where the running sum of `weights` passes `target`.
fn walk(weights: impl Iterator<Item = f32>, mut target: f64, fallback: usize) -> usize {
    let mut last_positive = fallback;
    for (i, w) in weights.enumerate() {
        if w > 0.0 {
            let w = f64::from(w);
            if target < w {
                return i;
            }
            target -= w;
            last_positive = i;
        }
    }
    // Only rounding in the running subtraction gets here.
    last_positive
}

/// Index of the first maximum (NaN entries never win); 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    let mut best_value = f32::NEG_INFINITY;
    for (i, &v) in values.iter().enumerate() {
        if v > best_value {
            best = i;
            best_value = v;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_fast_is_accurate_over_the_softmax_range() {
        let mut worst = 0.0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let exact = f64::from(x).exp();
            for approx in [exp_fast::<false>(x), exp_fast::<true>(x)] {
                let rel = ((f64::from(approx) - exact) / exact).abs();
                worst = worst.max(rel);
            }
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn sigmoid_and_tanh_are_accurate_everywhere() {
        let (mut worst_s, mut worst_t) = (0.0f64, 0.0f64);
        let mut x = -30.0f32;
        while x < 30.0 {
            let xd = f64::from(x);
            for fma in [false, true] {
                let (s, t) = if fma {
                    (sigmoid_fast::<true>(x), tanh_fast::<true>(x))
                } else {
                    (sigmoid_fast::<false>(x), tanh_fast::<false>(x))
                };
                worst_s = worst_s.max((f64::from(s) - 1.0 / (1.0 + (-xd).exp())).abs());
                worst_t = worst_t.max((f64::from(t) - xd.tanh()).abs());
            }
            x += 0.000_37;
        }
        assert!(worst_s < 2e-7, "sigmoid worst absolute error {worst_s}");
        assert!(worst_t < 5e-7, "tanh worst absolute error {worst_t}");
    }

    #[test]
    fn gate_packing_groups_the_four_gates_of_each_unit() {
        // H = 20: two blocks of 16 units, the second half padding.
        let hidden = 20;
        let m: Vec<f32> = (0..2 * 4 * hidden).map(|v| v as f32 + 1.0).collect();
        let p = pack_gates(&m, 2, hidden);
        assert_eq!(p.len(), 2 * 2 * GATE_BLOCK);
        for b in 0..2 {
            for r in 0..2 {
                for j in 0..GATE_BLOCK {
                    let (gate, unit) = (j / UNITS, b * UNITS + j % UNITS);
                    let expect = if unit < hidden {
                        m[r * 4 * hidden + gate * hidden + unit]
                    } else {
                        0.0
                    };
                    assert_eq!(p[(b * 2 + r) * GATE_BLOCK + j], expect);
                }
            }
        }
    }

    #[test]
    fn packing_keeps_every_entry_and_zero_pads() {
        let m: Vec<f32> = (0..3 * 40).map(|v| v as f32).collect();
        const BLOCK: usize = 32;
        let p = pack_blocks::<BLOCK>(&m, 3, 40);
        assert_eq!(p.len(), 2 * 3 * BLOCK);
        for r in 0..3 {
            for col in 0..64 {
                let (b, j) = (col / BLOCK, col % BLOCK);
                let expect = if col < 40 { m[r * 40 + col] } else { 0.0 };
                assert_eq!(p[(b * 3 + r) * BLOCK + j], expect);
            }
        }
    }
}
