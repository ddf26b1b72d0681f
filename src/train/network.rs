//! The network being trained, generic over f32 (training) and f64 (gradient checks): Keras's
//! initialisation, the forward pass and backpropagation through time over a batch of windows.

use super::numpy_rng::NumpyRandomState;
use crate::model::lstm::LstmParams;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, Array3, Axis, NdFloat};

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
    /// `[C, 4H]`: the conditioning inputs' kernel (`C` = 0 for a model without them).
    pub cond_kernel: Array2<F>,
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
        }
    }

    /// All zeros, with `cond` conditioning inputs.
    pub fn zeros_with(n_values: usize, hidden: usize, cond: usize) -> Network<F> {
        let mut net = Network::zeros(n_values, hidden);
        net.cond_kernel = Array2::zeros((cond, 4 * hidden));
        net
    }

    /// Zeros of the same shapes as `self`.
    pub fn zeros_like(&self) -> Network<F> {
        Network::zeros_with(self.n_values(), self.hidden(), self.cond_size())
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
    pub fn buffers(&self) -> [&[F]; 6] {
        [
            self.kernel.as_slice().expect("standard layout"),
            self.recurrent_kernel.as_slice().expect("standard layout"),
            self.bias.as_slice().expect("standard layout"),
            self.dense_kernel.as_slice().expect("standard layout"),
            self.dense_bias.as_slice().expect("standard layout"),
            self.cond_kernel.as_slice().expect("standard layout"),
        ]
    }

    /// Mutable [`Network::buffers`].
    pub fn buffers_mut(&mut self) -> [&mut [F]; 6] {
        [
            self.kernel.as_slice_mut().expect("standard layout"),
            self.recurrent_kernel
                .as_slice_mut()
                .expect("standard layout"),
            self.bias.as_slice_mut().expect("standard layout"),
            self.dense_kernel.as_slice_mut().expect("standard layout"),
            self.dense_bias.as_slice_mut().expect("standard layout"),
            self.cond_kernel.as_slice_mut().expect("standard layout"),
        ]
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
        let f = |b: &[F]| b.iter().map(|x| x.to_f32().unwrap_or(f32::NAN)).collect();
        let [k, r, b, dk, db, _] = self.buffers();
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
    let c = net.cond_size();
    if grads.n_values() != n || grads.hidden() != h || grads.cond_size() != c {
        *grads = net.zeros_like();
    }
    let mut cond_t: Array2<F> = Array2::zeros((if c > 0 { bsz } else { 0 }, c));
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
        if c > 0 {
            fill_cond(&mut cond_t, &batch.cond[t]);
            general_mat_mul(F::one(), &cond_t, &net.cond_kernel, F::one(), &mut z);
        }
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
        if c > 0 {
            fill_cond(&mut cond_t, &batch.cond[t]);
            general_mat_mul(F::one(), &cond_t.t(), &dz, F::one(), &mut grads.cond_kernel);
        }
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

/// Copies one step's conditioning (f32, row-major) into `dst`.
fn fill_cond<F: Real>(dst: &mut Array2<F>, src: &[f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = F::of(f64::from(x));
    }
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
