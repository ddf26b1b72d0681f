//! The network being trained, generic over f32 (training) and f64 (gradient checks): Keras's
//! initialisation, the forward pass and backpropagation through time over a batch of windows.

use super::numpy_rng::NumpyRandomState;
use crate::model::lstm::{LayerParams, LstmParams};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayViewMut2, ArrayViewMut3, Axis, NdFloat};

/// Floating-point type the trainer runs in. f32 (training) uses the
/// inference model's vectorizable approximations of e^x, σ and tanh (errors
/// ~1e-7, below f32's own rounding of the sums around them; libm's `tanhf`
/// alone took a third of an epoch); f64 (gradient checks) uses libm.
pub trait Real: NdFloat {
    /// Whether the fused kernel's AVX2/FMA path applies (f32).
    const SIMD: bool;
    /// Conversion from f64 (rounding for f32).
    fn of(x: f64) -> Self;
    #[inline(always)]
    fn exp_act(self) -> Self {
        self.exp_k::<false>()
    }
    #[inline(always)]
    fn sigmoid_act(self) -> Self {
        self.sigmoid_k::<false>()
    }
    #[inline(always)]
    fn tanh_act(self) -> Self {
        self.tanh_k::<false>()
    }
    /// e^x, σ and tanh as a kernel compiled for `FMA` computes them (fused multiply-adds in the
    /// f32 approximations; f64 uses libm either way).
    fn exp_k<const FMA: bool>(self) -> Self;
    fn sigmoid_k<const FMA: bool>(self) -> Self;
    fn tanh_k<const FMA: bool>(self) -> Self;
    /// Replaces a row of logits by their softmax; returns the largest logit and the sum of
    /// `e^(x − max)`.
    fn softmax_k<const FMA: bool>(row: &mut [Self]) -> (Self, Self);
    /// `c = beta · c + a · b` (`beta` 0 or 1) for the fused kernel's large products.
    fn matmul(
        a: ArrayView2<'_, Self>,
        b: ArrayView2<'_, Self>,
        beta: Self,
        c: &mut ArrayViewMut2<'_, Self>,
    ) {
        general_mat_mul(Self::one(), &a, &b, beta, c);
    }
}

impl Real for f32 {
    const SIMD: bool = true;
    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn exp_k<const FMA: bool>(self) -> f32 {
        crate::model::lstm::exp_fast::<FMA>(self)
    }
    #[inline(always)]
    fn sigmoid_k<const FMA: bool>(self) -> f32 {
        crate::model::lstm::sigmoid_fast::<FMA>(self)
    }
    #[inline(always)]
    fn tanh_k<const FMA: bool>(self) -> f32 {
        crate::model::lstm::tanh_fast::<FMA>(self)
    }
    #[inline(always)]
    fn softmax_k<const FMA: bool>(row: &mut [f32]) -> (f32, f32) {
        crate::model::lstm::softmax_in_place::<FMA>(row)
    }
    fn matmul(
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        beta: f32,
        c: &mut ArrayViewMut2<'_, f32>,
    ) {
        super::panel::gemm_f32(a, b, beta, c);
    }
}

impl Real for f64 {
    const SIMD: bool = false;
    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn exp_k<const FMA: bool>(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn sigmoid_k<const FMA: bool>(self) -> f64 {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_k<const FMA: bool>(self) -> f64 {
        self.tanh()
    }
    fn softmax_k<const FMA: bool>(row: &mut [f64]) -> (f64, f64) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
        (max, sum)
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
    /// `[C, 4H]`: the conditioning inputs' kernel (`C` = 0 for a model without them).
    pub cond_kernel: Array2<F>,
    /// `[S, n]`: the style block's rows of the dense layer. The last `S` conditioning inputs
    /// (the styles) add `x · row` to the logits, so a style also shifts the output directly
    /// (`S` = 0 without styles).
    pub style_dense: Array2<F>,
    /// The LSTM layers stacked above the first (none in the seed's network); the dense layer
    /// reads the top one.
    pub upper: Vec<Layer<F>>,
}

/// An LSTM layer above the first: its input is the hidden state of the layer below.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer<F> {
    /// `[H, 4H]`
    pub kernel: Array2<F>,
    /// `[H, 4H]`
    pub recurrent_kernel: Array2<F>,
    /// `[4H]`
    pub bias: Array1<F>,
}

impl<F: Real> Layer<F> {
    fn zeros(hidden: usize) -> Layer<F> {
        Layer {
            kernel: Array2::zeros((hidden, 4 * hidden)),
            recurrent_kernel: Array2::zeros((hidden, 4 * hidden)),
            bias: Array1::zeros(4 * hidden),
        }
    }
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
            cond_kernel: Array2::zeros((0, 4 * hidden)),
            style_dense: Array2::zeros((0, n_values)),
            upper: Vec::new(),
        }
    }

    /// All zeros, with `cond` conditioning inputs and `layers` stacked LSTM layers.
    pub fn zeros_layers(n_values: usize, hidden: usize, cond: usize, layers: usize) -> Network<F> {
        let mut net = Network::zeros_with(n_values, hidden, cond);
        net.upper = (1..layers).map(|_| Layer::zeros(hidden)).collect();
        net
    }

    /// LSTM layers (1 for the seed's network).
    pub fn layers(&self) -> usize {
        1 + self.upper.len()
    }

    /// All zeros, with `cond` conditioning inputs.
    pub fn zeros_with(n_values: usize, hidden: usize, cond: usize) -> Network<F> {
        let mut net = Network::zeros(n_values, hidden);
        net.cond_kernel = Array2::zeros((cond, 4 * hidden));
        net
    }

    /// Zeros of the same shapes as `self`.
    pub fn zeros_like(&self) -> Network<F> {
        let mut net = Network::zeros_layers(
            self.n_values(),
            self.hidden(),
            self.cond_size(),
            self.layers(),
        );
        net.style_dense = Array2::zeros(self.style_dense.dim());
        net
    }

    /// Styles `S` whose rows the dense layer has (the last `S` conditioning inputs).
    pub fn style_count(&self) -> usize {
        self.style_dense.nrows()
    }

    /// [`Network::style_dense`] as the model stores it (f32, `[S, n]` row-major).
    pub fn style_dense_params(&self) -> Vec<f32> {
        self.style_dense
            .iter()
            .map(|x| x.to_f32().unwrap_or(f32::NAN))
            .collect()
    }

    /// Conditioning inputs `C`.
    pub fn cond_size(&self) -> usize {
        self.cond_kernel.nrows()
    }

    /// Keras's initialisation with `cond` conditioning inputs: the same draws as
    /// [`Network::keras_init`], then a Glorot-uniform conditioning kernel (none drawn when
    /// `cond` is 0, so the seed setup is unchanged).
    pub fn keras_init_with(
        n_values: usize,
        hidden: usize,
        cond: usize,
        rng: &mut NumpyRandomState,
    ) -> Network<F> {
        let mut net = Network::keras_init(n_values, hidden, rng);
        net.cond_kernel = Array2::zeros((cond, 4 * hidden));
        if cond > 0 {
            glorot_uniform(&mut net.cond_kernel, rng);
        }
        net
    }

    /// [`Network::keras_init_with`], then `layers − 1` more LSTM layers drawn as Keras draws a
    /// stacked layer (Glorot-uniform input kernel, orthogonal recurrent kernel, forget-gate
    /// bias 1), bottom to top. With one layer the draws are exactly
    /// [`Network::keras_init_with`]'s.
    pub fn keras_init_layers(
        n_values: usize,
        hidden: usize,
        cond: usize,
        layers: usize,
        rng: &mut NumpyRandomState,
    ) -> Network<F> {
        let mut net = Network::keras_init_with(n_values, hidden, cond, rng);
        for _ in 1..layers {
            let mut layer = Layer::zeros(hidden);
            glorot_uniform(&mut layer.kernel, rng);
            layer.recurrent_kernel = orthogonal(hidden, 4 * hidden, rng).mapv(F::of);
            layer.bias.slice_mut(s![hidden..2 * hidden]).fill(F::one());
            net.upper.push(layer);
        }
        net
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

    /// The buffers, flat, in the order kernel, recurrent kernel, bias, dense kernel, dense
    /// bias, conditioning kernel, then each upper layer's kernel, recurrent kernel and bias,
    /// then the dense layer's style rows.
    pub fn buffers(&self) -> Vec<&[F]> {
        let mut out = vec![
            self.kernel.as_slice().expect("standard layout"),
            self.recurrent_kernel.as_slice().expect("standard layout"),
            self.bias.as_slice().expect("standard layout"),
            self.dense_kernel.as_slice().expect("standard layout"),
            self.dense_bias.as_slice().expect("standard layout"),
            self.cond_kernel.as_slice().expect("standard layout"),
        ];
        for layer in &self.upper {
            out.push(layer.kernel.as_slice().expect("standard layout"));
            out.push(layer.recurrent_kernel.as_slice().expect("standard layout"));
            out.push(layer.bias.as_slice().expect("standard layout"));
        }
        out.push(self.style_dense.as_slice().expect("standard layout"));
        out
    }

    /// Mutable [`Network::buffers`].
    pub fn buffers_mut(&mut self) -> Vec<&mut [F]> {
        let mut out = vec![
            self.kernel.as_slice_mut().expect("standard layout"),
            self.recurrent_kernel
                .as_slice_mut()
                .expect("standard layout"),
            self.bias.as_slice_mut().expect("standard layout"),
            self.dense_kernel.as_slice_mut().expect("standard layout"),
            self.dense_bias.as_slice_mut().expect("standard layout"),
            self.cond_kernel.as_slice_mut().expect("standard layout"),
        ];
        for layer in &mut self.upper {
            out.push(layer.kernel.as_slice_mut().expect("standard layout"));
            out.push(
                layer
                    .recurrent_kernel
                    .as_slice_mut()
                    .expect("standard layout"),
            );
            out.push(layer.bias.as_slice_mut().expect("standard layout"));
        }
        out.push(self.style_dense.as_slice_mut().expect("standard layout"));
        out
    }

    /// The conditioning kernel as the model stores it (f32, `[C, 4H]` row-major).
    pub fn cond_params(&self) -> Vec<f32> {
        self.cond_kernel
            .iter()
            .map(|x| x.to_f32().unwrap_or(f32::NAN))
            .collect()
    }

    /// The parameters as the inference model stores them (f32).
    pub fn to_params(&self) -> LstmParams {
        fn f<F: Real>(b: &[F]) -> Vec<f32> {
            b.iter().map(|x| x.to_f32().unwrap_or(f32::NAN)).collect()
        }
        let standard = |a: &Array2<F>| f(a.as_slice().expect("standard layout"));
        let flat = |a: &Array1<F>| f(a.as_slice().expect("standard layout"));
        LstmParams {
            n_values: self.n_values(),
            hidden: self.hidden(),
            kernel: standard(&self.kernel),
            recurrent_kernel: standard(&self.recurrent_kernel),
            bias: flat(&self.bias),
            dense_kernel: standard(&self.dense_kernel),
            dense_bias: flat(&self.dense_bias),
            upper: self
                .upper
                .iter()
                .map(|l| LayerParams {
                    kernel: standard(&l.kernel),
                    recurrent_kernel: standard(&l.recurrent_kernel),
                    bias: flat(&l.bias),
                })
                .collect(),
        }
    }

    /// A network from inference parameters.
    pub fn from_params(p: &LstmParams) -> Network<F> {
        let mut net = Network::zeros_layers(p.n_values, p.hidden, 0, p.layers());
        let mut src = vec![
            &p.kernel,
            &p.recurrent_kernel,
            &p.bias,
            &p.dense_kernel,
            &p.dense_bias,
        ];
        let empty = Vec::new();
        src.push(&empty); // the conditioning kernel: set by the caller
        for layer in &p.upper {
            src.extend([&layer.kernel, &layer.recurrent_kernel, &layer.bias]);
        }
        for (dst, src) in net.buffers_mut().into_iter().zip(src) {
            for (d, &s) in dst.iter_mut().zip(src.iter()) {
                *d = F::of(f64::from(s));
            }
        }
        net
    }
}

/// The style inputs that are set at step `t` of window `b` (the last `styles` of its `c`
/// conditioning numbers), as (style row, value).
pub(crate) fn style_inputs<F: Real>(
    batch: &Batch,
    t: usize,
    b: usize,
    c: usize,
    styles: usize,
) -> impl Iterator<Item = (usize, F)> + '_ {
    let row = batch
        .cond
        .get(t)
        .and_then(|step| step.get(b * c + c.saturating_sub(styles)..(b + 1) * c))
        .unwrap_or(&[]);
    row.iter()
        .enumerate()
        .filter(|(_, &x)| x != 0.0)
        .map(|(k, &x)| (k, F::of(f64::from(x))))
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
    /// Conditioning inputs per step, `cond[t]` = `[batch, C]` row-major (empty without them).
    pub cond: Vec<Vec<f32>>,
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
        Batch {
            inputs,
            targets,
            cond: Vec::new(),
        }
    }

    /// [`Batch::from_windows`] with conditioning: `cond_of(k)` is the vector (`C` numbers) of
    /// corpus position `k`, and window `b` starts at `starts[b]`. Step `t` predicts the value at
    /// `starts[b] + t + 1`, so it hears that value's conditioning.
    pub fn from_windows_with<'c>(
        windows: &[&[usize]],
        starts: &[usize],
        cond_size: usize,
        cond_of: impl Fn(usize) -> &'c [f32],
    ) -> Batch {
        let mut batch = Batch::from_windows(windows);
        let tx = batch.tx();
        batch.cond = (0..tx)
            .map(|t| {
                let mut step = Vec::with_capacity(windows.len() * cond_size);
                for &s in starts {
                    let v = cond_of(s + t + 1);
                    step.extend((0..cond_size).map(|k| v.get(k).copied().unwrap_or(0.0)));
                }
                step
            })
            .collect();
        batch
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
    /// Per LSTM layer (bottom first), `hs[l][t]` / `cs[l][t]`: state before step `t`;
    /// `[tx + 1, batch, H]`.
    hs: Vec<Array3<F>>,
    cs: Vec<Array3<F>>,
    /// Per layer, activated gates i, f, g, o per step, `[tx, batch, 4H]`.
    gates: Vec<Array3<F>>,
    /// Per layer, tanh(c) per step, `[tx, batch, H]`.
    tanh_c: Vec<Array3<F>>,
    /// Softmax outputs per step, `[tx, batch, n]`.
    probs: Array3<F>,
    /// Per layer, the gradient flowing into the previous step's `h` and `c`.
    dh_next: Vec<Array2<F>>,
    dc_next: Vec<Array2<F>>,
    dh: Array2<F>,
    dlogits: Array2<F>,
    dz: Array2<F>,
}

impl<F: Real> Workspace<F> {
    /// Buffers for batches of up to `max_batch` windows of `tx` steps, one LSTM layer.
    pub fn new(tx: usize, max_batch: usize, n_values: usize, hidden: usize) -> Workspace<F> {
        Workspace::new_layers(tx, max_batch, n_values, hidden, 1)
    }

    /// [`Workspace::new`] for `layers` stacked LSTM layers.
    pub fn new_layers(
        tx: usize,
        max_batch: usize,
        n_values: usize,
        hidden: usize,
        layers: usize,
    ) -> Workspace<F> {
        let (b, n, h) = (max_batch, n_values, hidden);
        let per_layer = |shape: (usize, usize, usize)| -> Vec<Array3<F>> {
            (0..layers).map(|_| Array3::zeros(shape)).collect()
        };
        Workspace {
            hs: per_layer((tx + 1, b, h)),
            cs: per_layer((tx + 1, b, h)),
            gates: per_layer((tx, b, 4 * h)),
            tanh_c: per_layer((tx, b, h)),
            probs: Array3::zeros((tx, b, n)),
            dh_next: (0..layers).map(|_| Array2::zeros((b, h))).collect(),
            dc_next: (0..layers).map(|_| Array2::zeros((b, h))).collect(),
            dh: Array2::zeros((b, h)),
            dlogits: Array2::zeros((b, n)),
            dz: Array2::zeros((b, 4 * h)),
        }
    }

    fn fits(&self, tx: usize, batch: usize, n_values: usize, hidden: usize, layers: usize) -> bool {
        let (t1, b, h) = self.hs[0].dim();
        t1 == tx + 1
            && b >= batch
            && h == hidden
            && self.probs.dim().2 == n_values
            && self.hs.len() == layers
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
    let mut ws = Workspace::new_layers(
        batch.tx(),
        batch.size(),
        net.n_values(),
        net.hidden(),
        net.layers(),
    );
    forward_backward_with(net, batch, grads, &mut ws)
}

/// The activations of one LSTM layer's step: `z` (pre-activations, `[batch, 4H]`) becomes the
/// activated gates in place; the new cell state, its tanh and the new hidden state are written.
#[inline(always)]
pub(super) fn cell_forward<F: Real, const FMA: bool>(
    z: &mut ArrayViewMut2<F>,
    c_prev: ArrayView2<F>,
    c_next: &mut ArrayViewMut2<F>,
    tc: &mut ArrayViewMut2<F>,
    h_next: &mut ArrayViewMut2<F>,
    h: usize,
) {
    for b in 0..z.nrows() {
        let zrow = z.row_mut(b).into_slice().expect("contiguous row");
        let (ifg, o) = zrow.split_at_mut(3 * h);
        let (i_f, g) = ifg.split_at_mut(2 * h);
        for v in i_f.iter_mut() {
            *v = v.sigmoid_k::<FMA>();
        }
        for v in o.iter_mut() {
            *v = v.sigmoid_k::<FMA>();
        }
        for v in g.iter_mut() {
            *v = v.tanh_k::<FMA>();
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
            tc[u] = c_next[u].tanh_k::<FMA>();
        }
        for u in 0..h {
            h_next[u] = o[u] * tc[u];
        }
    }
}

/// The cell's backward for one layer and step: from the gradient `dh` reaching the new hidden
/// state and `dc_next` reaching the new cell state, the gate pre-activation gradient `dz`;
/// `dc_next` becomes the gradient reaching the previous cell state, and the bias gradient is
/// accumulated. `on_row(b, dz_row)` sees each window's row (the first layer's one-hot kernel).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn cell_backward<F: Real, const FMA: bool>(
    gates: ArrayView2<F>,
    tanh_c: ArrayView2<F>,
    c_prev: ArrayView2<F>,
    dh: ArrayView2<F>,
    dc_next: &mut ArrayViewMut2<F>,
    dz: &mut ArrayViewMut2<F>,
    bias_grad: &mut [F],
    h: usize,
    mut on_row: impl FnMut(usize, &[F]),
) {
    for b in 0..dz.nrows() {
        let g_row = gates.row(b);
        let g_row = g_row.as_slice().expect("contiguous row");
        let (i, rest) = g_row.split_at(h);
        let (f, rest) = rest.split_at(h);
        let (g, o) = rest.split_at(h);
        let tc = tanh_c.row(b);
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
        on_row(b, dz_row);
    }
}

/// [`forward_backward`] with reusable buffers (reallocated if too small).
///
/// The layers' forward and backward are side by side: forward each LSTM layer's cell
/// (`z = x·W + h·U + b`, gates, `c`, `h`; the first layer's `x` is the one-hot value and the
/// conditioning, an upper layer's the new `h` of the layer below) then the dense softmax layer
/// on the top layer; backward, step by step from the last, the softmax/cross-entropy gradient,
/// the dense gradient, then the cell gradients from the top layer down.
pub fn forward_backward_with<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
    ws: &mut Workspace<F>,
) -> BatchResult<F> {
    let (tx, bsz) = (batch.tx(), batch.size());
    let (n, h, layers) = (net.n_values(), net.hidden(), net.layers());
    if !ws.fits(tx, bsz, n, h, layers) {
        *ws = Workspace::new_layers(tx, bsz, n, h, layers);
    }
    let c = net.cond_size();
    if grads.n_values() != n
        || grads.hidden() != h
        || grads.cond_size() != c
        || grads.layers() != layers
        || grads.style_count() != net.style_count()
    {
        *grads = net.zeros_like();
    }
    let top = layers - 1;
    let mut cond_t: Array2<F> = Array2::zeros((if c > 0 { bsz } else { 0 }, c));
    let inv_b = F::one() / F::of(bsz as f64);
    fn view<F>(a: &mut Array3<F>, bsz: usize) -> ArrayViewMut3<'_, F> {
        a.slice_mut(s![.., ..bsz, ..])
    }
    let view = |a| view(a, bsz);
    let mut hs: Vec<ArrayViewMut3<F>> = ws.hs.iter_mut().map(view).collect();
    let mut cs: Vec<ArrayViewMut3<F>> = ws.cs.iter_mut().map(view).collect();
    let mut gates: Vec<ArrayViewMut3<F>> = ws.gates.iter_mut().map(view).collect();
    let mut tanh_c: Vec<ArrayViewMut3<F>> = ws.tanh_c.iter_mut().map(view).collect();
    let mut probs = ws.probs.slice_mut(s![.., ..bsz, ..]);
    for l in 0..layers {
        hs[l].index_axis_mut(Axis(0), 0).fill(F::zero());
        cs[l].index_axis_mut(Axis(0), 0).fill(F::zero());
    }
    let mut result = BatchResult {
        loss: F::zero(),
        correct: 0,
        targets: 0,
    };

    // ---- forward ----
    for t in 0..tx {
        for l in 0..layers {
            let mut z = gates[l].index_axis_mut(Axis(0), t);
            if l == 0 {
                // LSTM cell: z = b + x·W (a row lookup) + h·U, then the gates.
                for (b, mut row) in z.rows_mut().into_iter().enumerate() {
                    row.assign(&net.bias);
                    if let Some(x) = batch.inputs[t][b] {
                        row += &net.kernel.row(x);
                    }
                }
                general_mat_mul(
                    F::one(),
                    &hs[0].index_axis(Axis(0), t),
                    &net.recurrent_kernel,
                    F::one(),
                    &mut z,
                );
                if c > 0 {
                    fill_cond(&mut cond_t, &batch.cond[t]);
                    general_mat_mul(F::one(), &cond_t, &net.cond_kernel, F::one(), &mut z);
                }
            } else {
                // An upper layer: z = b + h_below·W + h·U.
                let layer = &net.upper[l - 1];
                for mut row in z.rows_mut() {
                    row.assign(&layer.bias);
                }
                general_mat_mul(
                    F::one(),
                    &hs[l - 1].index_axis(Axis(0), t + 1),
                    &layer.kernel,
                    F::one(),
                    &mut z,
                );
                general_mat_mul(
                    F::one(),
                    &hs[l].index_axis(Axis(0), t),
                    &layer.recurrent_kernel,
                    F::one(),
                    &mut z,
                );
            }
            let (before, mut after) = cs[l].view_mut().split_at(Axis(0), t + 1);
            let c_prev = before.index_axis(Axis(0), t);
            let mut c_next = after.index_axis_mut(Axis(0), 0);
            let mut h_next = hs[l].index_axis_mut(Axis(0), t + 1);
            let mut tc = tanh_c[l].index_axis_mut(Axis(0), t);
            cell_forward::<_, false>(&mut z, c_prev, &mut c_next, &mut tc, &mut h_next, h);
        }

        // Dense + softmax, cross-entropy and accuracy.
        let mut p = probs.index_axis_mut(Axis(0), t);
        for mut row in p.rows_mut() {
            row.assign(&net.dense_bias);
        }
        general_mat_mul(
            F::one(),
            &hs[top].index_axis(Axis(0), t + 1),
            &net.dense_kernel,
            F::one(),
            &mut p,
        );
        if net.style_count() > 0 {
            for (b, mut row) in p.rows_mut().into_iter().enumerate() {
                for (k, x) in style_inputs(batch, t, b, c, net.style_count()) {
                    row.scaled_add(x, &net.style_dense.row(k));
                }
            }
        }
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
    let mut dh_next: Vec<ArrayViewMut2<F>> = ws
        .dh_next
        .iter_mut()
        .map(|a| a.slice_mut(s![..bsz, ..]))
        .collect();
    let mut dc_next: Vec<ArrayViewMut2<F>> = ws
        .dc_next
        .iter_mut()
        .map(|a| a.slice_mut(s![..bsz, ..]))
        .collect();
    let mut dh = ws.dh.slice_mut(s![..bsz, ..]);
    let mut dlogits = ws.dlogits.slice_mut(s![..bsz, ..]);
    let mut dz = ws.dz.slice_mut(s![..bsz, ..]);
    for l in 0..layers {
        dh_next[l].fill(F::zero());
        dc_next[l].fill(F::zero());
    }
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
            &hs[top].index_axis(Axis(0), t + 1).t(),
            &dlogits,
            F::one(),
            &mut grads.dense_kernel,
        );
        for (b, row) in dlogits.rows().into_iter().enumerate() {
            for (k, x) in style_inputs(batch, t, b, c, net.style_count()) {
                grads.style_dense.row_mut(k).scaled_add(x, &row);
            }
        }
        dh.assign(&dh_next[top]);
        general_mat_mul(F::one(), &dlogits, &net.dense_kernel.t(), F::one(), &mut dh);

        // LSTM cells backward, from the top layer down.
        for l in (0..layers).rev() {
            if l == 0 {
                let kernel_grad = &mut grads.kernel;
                cell_backward::<_, false>(
                    gates[0].index_axis(Axis(0), t),
                    tanh_c[0].index_axis(Axis(0), t),
                    cs[0].index_axis(Axis(0), t),
                    dh.view(),
                    &mut dc_next[0],
                    &mut dz,
                    grads.bias.as_slice_mut().expect("contiguous"),
                    h,
                    |b, dz_row| {
                        if let Some(x) = batch.inputs[t][b] {
                            let k = kernel_grad.row_mut(x).into_slice().expect("contiguous row");
                            for (k, &d) in k.iter_mut().zip(dz_row.iter()) {
                                *k += d;
                            }
                        }
                    },
                );
                general_mat_mul(
                    F::one(),
                    &hs[0].index_axis(Axis(0), t).t(),
                    &dz,
                    F::one(),
                    &mut grads.recurrent_kernel,
                );
                if c > 0 {
                    fill_cond(&mut cond_t, &batch.cond[t]);
                    general_mat_mul(F::one(), &cond_t.t(), &dz, F::one(), &mut grads.cond_kernel);
                }
                general_mat_mul(
                    F::one(),
                    &dz,
                    &net.recurrent_kernel.t(),
                    F::zero(),
                    &mut dh_next[0],
                );
            } else {
                let (layer, layer_grad) = (&net.upper[l - 1], &mut grads.upper[l - 1]);
                cell_backward::<_, false>(
                    gates[l].index_axis(Axis(0), t),
                    tanh_c[l].index_axis(Axis(0), t),
                    cs[l].index_axis(Axis(0), t),
                    dh.view(),
                    &mut dc_next[l],
                    &mut dz,
                    layer_grad.bias.as_slice_mut().expect("contiguous"),
                    h,
                    |_, _| {},
                );
                general_mat_mul(
                    F::one(),
                    &hs[l].index_axis(Axis(0), t).t(),
                    &dz,
                    F::one(),
                    &mut layer_grad.recurrent_kernel,
                );
                general_mat_mul(
                    F::one(),
                    &hs[l - 1].index_axis(Axis(0), t + 1).t(),
                    &dz,
                    F::one(),
                    &mut layer_grad.kernel,
                );
                general_mat_mul(
                    F::one(),
                    &dz,
                    &layer.recurrent_kernel.t(),
                    F::zero(),
                    &mut dh_next[l],
                );
                // The gradient reaching the layer below's new h: from its own next step and
                // through this layer's input kernel.
                dh.assign(&dh_next[l - 1]);
                general_mat_mul(F::one(), &dz, &layer.kernel.t(), F::one(), &mut dh);
            }
        }
    }
    result
}

/// Copies one step's conditioning (f32, row-major) into `dst`.
pub(super) fn fill_cond<F: Real>(dst: &mut Array2<F>, src: &[f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = F::of(f64::from(x));
    }
}

pub(super) fn argmax<F: Real>(values: impl Iterator<Item = F>) -> usize {
    let mut best = (0, F::neg_infinity());
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}
