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

use super::network::{cell_backward, cell_forward, Batch, BatchResult, Network, Real};
use super::panel::{matmul_packed, PackedB};
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
    /// Per layer: the recurrent kernel packed for the step products (forward: `U`; backward:
    /// `Uᵀ`, packed again into the same buffer).
    packed: Vec<PackedB<F>>,
    /// The step products' packed rows.
    a_buf: Vec<F>,
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
            packed: (0..layers).map(|_| PackedB::default()).collect(),
            a_buf: Vec::new(),
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
/// docs). Buffers are reallocated only when the shape grows. In f32 on a CPU with AVX2 and FMA,
/// the element-wise loops (gates, softmax) are compiled for them and use fused multiply-adds.
pub fn forward_backward_fused<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
    ws: &mut FusedWorkspace<F>,
) -> BatchResult<F> {
    #[cfg(target_arch = "x86_64")]
    if F::SIMD && crate::model::lstm::simd_available() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { fused_avx2_fma(net, batch, grads, ws) };
    }
    fused::<F, false>(net, batch, grads, ws)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fused_avx2_fma<F: Real>(
    net: &Network<F>,
    batch: &Batch,
    grads: &mut Network<F>,
    ws: &mut FusedWorkspace<F>,
) -> BatchResult<F> {
    fused::<F, true>(net, batch, grads, ws)
}

#[inline(always)]
fn fused<F: Real, const FMA: bool>(
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
        || grads.style_count() != net.style_count()
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
            F::matmul(input, layer.kernel.view(), F::one(), &mut z_all);
        }
        let recurrent = if l == 0 {
            &net.recurrent_kernel
        } else {
            &net.upper[l - 1].recurrent_kernel
        };
        let packed = &mut ws.packed[l];
        packed.pack(recurrent.view());
        let packed = &*packed;
        for t in 0..tx {
            let z_t = &mut gates[t * bsz * 4 * h..(t + 1) * bsz * 4 * h];
            let (before, after) = hs.split_at_mut((t + 1) * bsz * h);
            // The state before the first step is zero: nothing to add.
            if t > 0 {
                let h_prev = &before[t * bsz * h..];
                matmul_packed::<F, FMA>(h_prev, bsz, packed, z_t, true, &mut ws.a_buf);
            }
            let mut z_t = mat_mut(z_t, bsz, 4 * h);
            let (c_before, c_after) = cs.split_at_mut((t + 1) * bsz * h);
            let c_prev = mat(&c_before[t * bsz * h..], bsz, h);
            let mut c_next = mat_mut(c_after, bsz, h);
            let mut tc = mat_mut(&mut ws.tanh_c[l][t * bsz * h..], bsz, h);
            let mut h_next = mat_mut(after, bsz, h);
            cell_forward::<F, FMA>(&mut z_t, c_prev, &mut c_next, &mut tc, &mut h_next, h);
        }
    }

    // ---- dense + softmax over every step at once ----
    for buf in grads.buffers_mut() {
        buf.fill(F::zero());
    }
    // Steps after the last one with a target (the last step of a window) need no dense layer.
    let scored = (0..tx)
        .rev()
        .find(|&t| batch.targets[t].iter().any(Option::is_some))
        .map_or(0, |t| t + 1);
    let dense_rows = scored * bsz;
    let h_top = mat(&ws.hs[top][bsz * h..], dense_rows, h);
    let mut logits = mat_mut(&mut ws.probs, dense_rows, n);
    for mut row in logits.rows_mut() {
        row.assign(&net.dense_bias);
    }
    F::matmul(h_top, net.dense_kernel.view(), F::one(), &mut logits);
    let styles = net.style_count();
    if styles > 0 {
        // The style block is the last `styles` conditioning inputs of each row.
        for (r, mut row) in logits.rows_mut().into_iter().enumerate() {
            let x_row = &ws.cond[r * c + c - styles..(r + 1) * c];
            for (k, &x) in x_row.iter().enumerate() {
                if x != F::zero() {
                    row.scaled_add(x, &net.style_dense.row(k));
                }
            }
        }
    }
    // Each row while it is in cache: the loss, then the softmax/cross-entropy gradient
    // (p − y) / B in place (zero for no target) and the dense bias gradient.
    let dense_bias_grad = grads.dense_bias.as_slice_mut().expect("contiguous");
    for (r, row) in ws.probs[..dense_rows * n].chunks_exact_mut(n).enumerate() {
        let Some(y) = batch.targets[r / bsz][r % bsz] else {
            row.fill(F::zero());
            continue;
        };
        if first_argmax(row) == y {
            result.correct += 1;
        }
        let logit_y = row[y];
        let (max, sum) = F::softmax_k::<FMA>(row);
        result.targets += 1;
        result.loss += (max - logit_y + sum.ln()) * inv_b;
        row[y] -= F::one();
        for (v, gb) in row.iter_mut().zip(dense_bias_grad.iter_mut()) {
            *v *= inv_b;
            *gb += *v;
        }
    }

    // ---- backward ----
    let dlogits = mat(&ws.probs, dense_rows, n);
    if styles > 0 {
        for (r, row) in dlogits.rows().into_iter().enumerate() {
            let x_row = &ws.cond[r * c + c - styles..(r + 1) * c];
            for (k, &x) in x_row.iter().enumerate() {
                if x != F::zero() {
                    grads.style_dense.row_mut(k).scaled_add(x, &row);
                }
            }
        }
    }
    F::matmul(
        h_top.t(),
        dlogits,
        F::zero(),
        &mut grads.dense_kernel.view_mut(),
    );
    let (dh_dense, dh_rest) = ws.dh_in[..rows * h].split_at_mut(dense_rows * h);
    F::matmul(
        dlogits,
        net.dense_kernel.t(),
        F::zero(),
        &mut mat_mut(dh_dense, dense_rows, h),
    );
    dh_rest.fill(F::zero());

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
        let packed_t = &mut ws.packed[l];
        packed_t.pack(recurrent.t());
        ws.dh_next[..bsz * h].fill(F::zero());
        ws.dc_next[..bsz * h].fill(F::zero());
        for t in (0..tx).rev() {
            let mut dh = mat_mut(&mut ws.dh, bsz, h);
            dh.assign(&mat(&ws.dh_in[t * bsz * h..], bsz, h));
            dh += &mat(&ws.dh_next, bsz, h);
            let mut dz_t = mat_mut(&mut ws.dz[t * bsz * 4 * h..], bsz, 4 * h);
            let inputs = &batch.inputs[t];
            cell_backward::<F, FMA>(
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
            // What reaches the previous hidden state; the first step's is not needed.
            if t > 0 {
                let dz_t = &ws.dz[t * bsz * 4 * h..];
                matmul_packed::<F, FMA>(dz_t, bsz, packed_t, &mut ws.dh_next, false, &mut ws.a_buf);
            }
        }
        // The weight gradients of every step at once.
        let dz_all = mat(&ws.dz, rows, 4 * h);
        // The recurrent gradient Σ h_prevᵀ · dz leaves out the first step, whose h_prev is zero.
        let h_prev_all = mat(&ws.hs[l][bsz * h..], rows - bsz, h);
        let dz_later = mat(&ws.dz[bsz * 4 * h..], rows - bsz, 4 * h);
        if l == 0 {
            F::matmul(
                h_prev_all.t(),
                dz_later,
                F::zero(),
                &mut grads.recurrent_kernel.view_mut(),
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
            F::matmul(
                h_prev_all.t(),
                dz_later,
                F::zero(),
                &mut layer_grad.recurrent_kernel.view_mut(),
            );
            let input = mat(&ws.hs[l - 1][bsz * h..], rows, h);
            F::matmul(
                input.t(),
                dz_all,
                F::zero(),
                &mut layer_grad.kernel.view_mut(),
            );
            // What reaches the layer below's new hidden states through this layer's input.
            F::matmul(
                dz_all,
                net.upper[l - 1].kernel.t(),
                F::zero(),
                &mut mat_mut(&mut ws.dh_in, rows, h),
            );
        }
    }
    result
}

/// The index of the first largest entry (as `numpy.argmax`; 0 for none), the largest found in 8
/// lanes so the search vectorizes.
#[inline(always)]
fn first_argmax<F: Real>(row: &[F]) -> usize {
    let max = crate::model::lstm::max_in_lanes(row, F::neg_infinity(), F::max);
    row.iter().position(|&v| v == max).unwrap_or(0)
}
