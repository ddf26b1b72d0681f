//! The training kernel for collections: the same network, loss and gradients as
//! [`forward_backward_with`](super::forward_backward_with), arranged so that most of the work is
//! a few large matrix products instead of many small ones.
//!
//! Per LSTM layer, everything that does not depend on the previous step is one product over all
//! `Tx · B` rows at once: the first layer's conditioning inputs, an upper layer's input from the
//! layer below, the dense layer and softmax, and on the way back the dense, input, conditioning
//! and recurrent weight gradients. Only `h · U` forward and `dz · Uᵀ` backward stay in the step
//! loop. Each layer runs through all steps before the next starts (the order cuDNN uses).
//!
//! Buffers are flat, row `t · B + b` for step `t` and window `b`, sized once for the largest
//! batch and reused, so a batch allocates nothing here. The sums run in another order than the
//! step-by-step kernel's, so the two agree to rounding, not bit for bit: the seed setup
//! (`--preset metheny`) keeps the step-by-step kernel and its exact weights.

use super::network::{argmax, cell_backward, cell_forward, Batch, BatchResult, Network, Real};
use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// The buffers of [`forward_backward_fused`], reused across batches.
#[derive(Clone, Debug, Default)]
pub struct FusedWorkspace<F> {
    /// Shape the buffers were made for: (tx, max batch, n, H, layers, C).
    shape: (usize, usize, usize, usize, usize, usize),
    /// Per layer: hidden and cell states, `(tx + 1) · B` rows of `H` (row `t · B + b` is the
    /// state before step `t`).
    hs: Vec<Vec<F>>,
    cs: Vec<Vec<F>>,
    /// Per layer: gate pre-activations, then the activated gates, `tx · B` rows of `4H`.
    gates: Vec<Vec<F>>,
    /// Per layer: tanh of the new cell state, `tx · B` rows of `H`.
    tanh_c: Vec<Vec<F>>,
    /// Logits, then probabilities, then their gradient: `tx · B` rows of `n`.
    probs: Vec<F>,
    /// The conditioning inputs of every step, `tx · B` rows of `C`.
    cond: Vec<F>,
    /// The gradient reaching the current layer's new hidden states from above, `tx · B` × `H`.
    dh_in: Vec<F>,
    /// The current layer's gate gradients of every step, `tx · B` × `4H`.
    dz: Vec<F>,
    dh: Vec<F>,
    dh_next: Vec<F>,
    dc_next: Vec<F>,
}

impl<F: Real> FusedWorkspace<F> {
    /// Buffers for batches of up to `max_batch` windows of `tx` steps.
    pub fn new(
        tx: usize,
        max_batch: usize,
        n_values: usize,
        hidden: usize,
        layers: usize,
        cond: usize,
    ) -> FusedWorkspace<F> {
        let (b, h) = (max_batch, hidden);
        let zeros = |len: usize| vec![F::zero(); len];
        let per_layer = |len: usize| (0..layers).map(|_| zeros(len)).collect::<Vec<_>>();
        FusedWorkspace {
            shape: (tx, max_batch, n_values, hidden, layers, cond),
            hs: per_layer((tx + 1) * b * h),
            cs: per_layer((tx + 1) * b * h),
            gates: per_layer(tx * b * 4 * h),
            tanh_c: per_layer(tx * b * h),
            probs: zeros(tx * b * n_values),
            cond: zeros(tx * b * cond),
            dh_in: zeros(tx * b * h),
            dz: zeros(tx * b * 4 * h),
            dh: zeros(b * h),
            dh_next: zeros(b * h),
            dc_next: zeros(b * h),
        }
    }

    fn fits(&self, tx: usize, batch: usize, net: &Network<F>) -> bool {
        let (t, b, n, h, l, c) = self.shape;
        t == tx
            && b >= batch
            && n == net.n_values()
            && h == net.hidden()
            && l == net.layers()
            && c == net.cond_size()
    }
}

/// `rows × cols` at the start of `buf`, row-major.
fn mat<F>(buf: &[F], rows: usize, cols: usize) -> ArrayView2<'_, F> {
    ArrayView2::from_shape((rows, cols), &buf[..rows * cols]).expect("a buffer of that size")
}

/// Mutable [`mat`].
fn mat_mut<F>(buf: &mut [F], rows: usize, cols: usize) -> ArrayViewMut2<'_, F> {
    ArrayViewMut2::from_shape((rows, cols), &mut buf[..rows * cols]).expect("a buffer of that size")
}

/// The same as [`forward_backward_with`](super::forward_backward_with) (loss, counts and the
/// gradient written into `grads`), computed with large products over all steps (see the module
/// docs). Buffers are reallocated only when the shape grows.
pub fn forward_backward_fused<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
    ws: &mut FusedWorkspace<F>,
) -> BatchResult<F> {
    let (tx, bsz) = (batch.tx(), batch.size());
    let (n, h, layers, c) = (net.n_values(), net.hidden(), net.layers(), net.cond_size());
    if !ws.fits(tx, bsz, net) {
        *ws = FusedWorkspace::new(tx, bsz, n, h, layers, c);
    }
    if grads.n_values() != n
        || grads.hidden() != h
        || grads.cond_size() != c
        || grads.layers() != layers
    {
        *grads = net.zeros_like();
    }
    let rows = tx * bsz;
    let top = layers - 1;
    let inv_b = F::one() / F::of(bsz as f64);
    let mut result = BatchResult {
        loss: F::zero(),
        correct: 0,
        targets: 0,
    };

    // ---- forward, a layer at a time ----
    for l in 0..layers {
        let (below, this_and_above) = ws.hs.split_at_mut(l);
        let hs = &mut this_and_above[0];
        let cs = &mut ws.cs[l];
        hs[..bsz * h].fill(F::zero());
        cs[..bsz * h].fill(F::zero());
        let gates = &mut ws.gates[l];
        let mut z_all = mat_mut(gates, rows, 4 * h);
        if l == 0 {
            for t in 0..tx {
                for b in 0..bsz {
                    let mut row = z_all.row_mut(t * bsz + b);
                    row.assign(&net.bias);
                    if let Some(x) = batch.inputs[t][b] {
                        row += &net.kernel.row(x);
                    }
                }
            }
            if c > 0 {
                for (t, step) in batch.cond.iter().enumerate().take(tx) {
                    let dst = &mut ws.cond[t * bsz * c..(t + 1) * bsz * c];
                    for (d, &x) in dst.iter_mut().zip(step) {
                        *d = F::of(f64::from(x));
                    }
                }
                // The conditioning is mostly zeros (one-hot blocks): adding the kernel rows of
                // the inputs that are set costs a fraction of the dense product.
                let kernel = net.cond_kernel.as_slice().expect("standard layout");
                for (r, x_row) in ws.cond[..rows * c].chunks_exact(c).enumerate() {
                    let z = z_all.row_mut(r).into_slice().expect("contiguous row");
                    for (k, &x) in x_row.iter().enumerate() {
                        if x != F::zero() {
                            let w = &kernel[k * 4 * h..(k + 1) * 4 * h];
                            for (z, &w) in z.iter_mut().zip(w) {
                                *z += x * w;
                            }
                        }
                    }
                }
            }
        } else {
            let layer = &net.upper[l - 1];
            for mut row in z_all.rows_mut() {
                row.assign(&layer.bias);
            }
            let input = mat(&below[l - 1][bsz * h..], rows, h);
            general_mat_mul(F::one(), &input, &layer.kernel, F::one(), &mut z_all);
        }
        let recurrent = if l == 0 {
            &net.recurrent_kernel
        } else {
            &net.upper[l - 1].recurrent_kernel
        };
        for t in 0..tx {
            let z_t = &mut gates[t * bsz * 4 * h..(t + 1) * bsz * 4 * h];
            let mut z_t = mat_mut(z_t, bsz, 4 * h);
            let (before, after) = hs.split_at_mut((t + 1) * bsz * h);
            let h_prev = mat(&before[t * bsz * h..], bsz, h);
            general_mat_mul(F::one(), &h_prev, recurrent, F::one(), &mut z_t);
            let (c_before, c_after) = cs.split_at_mut((t + 1) * bsz * h);
            let c_prev = mat(&c_before[t * bsz * h..], bsz, h);
            let mut c_next = mat_mut(c_after, bsz, h);
            let mut tc = mat_mut(&mut ws.tanh_c[l][t * bsz * h..], bsz, h);
            let mut h_next = mat_mut(after, bsz, h);
            cell_forward(&mut z_t, c_prev, &mut c_next, &mut tc, &mut h_next, h);
        }
    }

    // ---- dense + softmax over every step at once ----
    let h_top = mat(&ws.hs[top][bsz * h..], rows, h);
    let mut logits = mat_mut(&mut ws.probs, rows, n);
    for mut row in logits.rows_mut() {
        row.assign(&net.dense_bias);
    }
    general_mat_mul(F::one(), &h_top, &net.dense_kernel, F::one(), &mut logits);
    for (r, row) in logits.rows_mut().into_iter().enumerate() {
        let row = row.into_slice().expect("contiguous row");
        let max = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
        let target = batch.targets[r / bsz][r % bsz];
        let mut loss = F::zero();
        if let Some(y) = target {
            if argmax(row.iter().copied()) == y {
                result.correct += 1;
            }
            result.targets += 1;
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

    // ---- backward ----
    for buf in grads.buffers_mut() {
        buf.fill(F::zero());
    }
    // Softmax + cross-entropy: (p − y) / B in place; zero for a zero target.
    let dense_bias_grad = grads.dense_bias.as_slice_mut().expect("contiguous");
    for (r, row) in ws.probs[..rows * n].chunks_exact_mut(n).enumerate() {
        match batch.targets[r / bsz][r % bsz] {
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
    let dlogits = mat(&ws.probs, rows, n);
    general_mat_mul(
        F::one(),
        &h_top.t(),
        &dlogits,
        F::zero(),
        &mut grads.dense_kernel,
    );
    let mut dh_in = mat_mut(&mut ws.dh_in, rows, h);
    general_mat_mul(
        F::one(),
        &dlogits,
        &net.dense_kernel.t(),
        F::zero(),
        &mut dh_in,
    );

    for l in (0..layers).rev() {
        let (layer_grad_bias, recurrent) = if l == 0 {
            (
                grads.bias.as_slice_mut().expect("contiguous"),
                &net.recurrent_kernel,
            )
        } else {
            (
                grads.upper[l - 1].bias.as_slice_mut().expect("contiguous"),
                &net.upper[l - 1].recurrent_kernel,
            )
        };
        let kernel_grad = &mut grads.kernel;
        ws.dh_next[..bsz * h].fill(F::zero());
        ws.dc_next[..bsz * h].fill(F::zero());
        for t in (0..tx).rev() {
            let mut dh = mat_mut(&mut ws.dh, bsz, h);
            dh.assign(&mat(&ws.dh_in[t * bsz * h..], bsz, h));
            dh += &mat(&ws.dh_next, bsz, h);
            let mut dz_t = mat_mut(&mut ws.dz[t * bsz * 4 * h..], bsz, 4 * h);
            let inputs = &batch.inputs[t];
            cell_backward(
                mat(&ws.gates[l][t * bsz * 4 * h..], bsz, 4 * h),
                mat(&ws.tanh_c[l][t * bsz * h..], bsz, h),
                mat(&ws.cs[l][t * bsz * h..], bsz, h),
                dh.view(),
                &mut mat_mut(&mut ws.dc_next, bsz, h),
                &mut dz_t,
                layer_grad_bias,
                h,
                |b, dz_row| {
                    if l == 0 {
                        if let Some(x) = inputs[b] {
                            let k = kernel_grad.row_mut(x).into_slice().expect("contiguous row");
                            for (k, &d) in k.iter_mut().zip(dz_row.iter()) {
                                *k += d;
                            }
                        }
                    }
                },
            );
            general_mat_mul(
                F::one(),
                &dz_t,
                &recurrent.t(),
                F::zero(),
                &mut mat_mut(&mut ws.dh_next, bsz, h),
            );
        }
        // The weight gradients of every step at once.
        let dz_all = mat(&ws.dz, rows, 4 * h);
        let h_prev_all = mat(&ws.hs[l], rows, h);
        if l == 0 {
            general_mat_mul(
                F::one(),
                &h_prev_all.t(),
                &dz_all,
                F::zero(),
                &mut grads.recurrent_kernel,
            );
            if c > 0 {
                let grad = grads.cond_kernel.as_slice_mut().expect("standard layout");
                let dz = &ws.dz[..rows * 4 * h];
                for (x_row, dz_row) in ws.cond[..rows * c]
                    .chunks_exact(c)
                    .zip(dz.chunks_exact(4 * h))
                {
                    for (k, &x) in x_row.iter().enumerate() {
                        if x != F::zero() {
                            let g = &mut grad[k * 4 * h..(k + 1) * 4 * h];
                            for (g, &d) in g.iter_mut().zip(dz_row) {
                                *g += x * d;
                            }
                        }
                    }
                }
            }
        } else {
            let layer_grad = &mut grads.upper[l - 1];
            general_mat_mul(
                F::one(),
                &h_prev_all.t(),
                &dz_all,
                F::zero(),
                &mut layer_grad.recurrent_kernel,
            );
            let input = mat(&ws.hs[l - 1][bsz * h..], rows, h);
            general_mat_mul(
                F::one(),
                &input.t(),
                &dz_all,
                F::zero(),
                &mut layer_grad.kernel,
            );
            // What reaches the layer below's new hidden states through this layer's input.
            general_mat_mul(
                F::one(),
                &dz_all,
                &net.upper[l - 1].kernel.t(),
                F::zero(),
                &mut mat_mut(&mut ws.dh_in, rows, h),
            );
        }
    }
    result
}
