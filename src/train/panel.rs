//! The per-step recurrent products of the fused kernel: `C = A · B` or `C += A · B` where `A`
//! has few rows (the windows of a batch, 16 or 32) and `B` is a weight matrix fixed for the whole
//! batch. A general GEMM packs `B` again at every call, which for so few rows costs about as
//! much as the multiplication; here `B` is packed once per batch into panels of [`NR`] columns,
//! and each step packs only its small `A` into blocks of [`MR`] rows.
//!
//! Each output is summed over `k` in order, so the result does not depend on the batch's size or
//! on how the rows are split among threads.

use super::network::Real;
use ndarray::{ArrayView2, ArrayViewMut2};

/// Columns per panel of `B`: two AVX vectors of f32.
pub const NR: usize = 16;
/// Rows of `A` per block: with [`NR`], 8 f32 accumulator vectors.
pub const MR: usize = 4;

/// A `k × n` matrix packed as `⌈n / NR⌉` panels, each `k` rows of [`NR`] numbers (zero-padded
/// past `n`). Reuses its allocation.
#[derive(Clone, Debug)]
pub struct PackedB<F> {
    data: Vec<F>,
    k: usize,
    n: usize,
}

impl<F> Default for PackedB<F> {
    fn default() -> PackedB<F> {
        PackedB {
            data: Vec::new(),
            k: 0,
            n: 0,
        }
    }
}

impl<F: Real> PackedB<F> {
    /// Packs `b` (any layout; pass `w.t()` for a transpose).
    pub fn pack(&mut self, b: ArrayView2<'_, F>) {
        let (k, n) = b.dim();
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(panels * k * NR, F::zero());
        for (r, row) in b.rows().into_iter().enumerate() {
            for (col, &v) in row.iter().enumerate() {
                let (p, j) = (col / NR, col % NR);
                self.data[(p * k + r) * NR + j] = v;
            }
        }
    }
}

/// `A` (`m × k`, row-major) packed in blocks of [`MR`] rows, `k` groups of `MR` (zero rows past
/// `m`), in a buffer the caller keeps.
#[inline(always)]
fn pack_a<F: Real>(a: &[F], m: usize, k: usize, out: &mut Vec<F>) {
    let blocks = m.div_ceil(MR);
    out.clear();
    out.resize(blocks * k * MR, F::zero());
    for (row, a_row) in a[..m * k].chunks_exact(k).enumerate() {
        let (block, i) = (row / MR, row % MR);
        let dst = &mut out[block * k * MR..(block + 1) * k * MR];
        for (kk, &v) in a_row.iter().enumerate() {
            dst[kk * MR + i] = v;
        }
    }
}

/// `c = a · b` (or `c += a · b` with `accumulate`): `a` is `m × b.k()` and `c` is `m × b.n()`,
/// both row-major at the start of their slices; `a_buf` is scratch space kept between calls.
#[inline(always)]
pub fn matmul_packed<F: Real, const FMA: bool>(
    a: &[F],
    m: usize,
    b: &PackedB<F>,
    c: &mut [F],
    accumulate: bool,
    a_buf: &mut Vec<F>,
) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "matrices too small");
    pack_a(a, m, k, a_buf);
    for (p, panel) in b.data.chunks_exact(k * NR).enumerate() {
        let col0 = p * NR;
        let width = NR.min(n - col0);
        for (block, a_block) in a_buf.chunks_exact(k * MR).enumerate() {
            let mut acc = [[F::zero(); NR]; MR];
            for (a_k, b_k) in a_block.chunks_exact(MR).zip(panel.chunks_exact(NR)) {
                for i in 0..MR {
                    let av = a_k[i];
                    for j in 0..NR {
                        acc[i][j] = if FMA {
                            av.mul_add(b_k[j], acc[i][j])
                        } else {
                            av * b_k[j] + acc[i][j]
                        };
                    }
                }
            }
            let rows = MR.min(m - block * MR);
            for (i, acc) in acc.iter().enumerate().take(rows) {
                let start = (block * MR + i) * n + col0;
                let out = &mut c[start..start + width];
                if accumulate {
                    for (o, &v) in out.iter_mut().zip(acc) {
                        *o += v;
                    }
                } else {
                    out.copy_from_slice(&acc[..width]);
                }
            }
        }
    }
}

/// `c = beta · c + a · b` in f32 (`beta` 0 or 1), any strides, on the calling thread, through
/// the `gemm` crate.
pub fn gemm_f32(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(k == k2 && c.dim() == (m, n), "matrix shapes do not match");
    if k == 0 && beta == 0.0 {
        c.fill(0.0);
    }
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let (a_s, b_s, c_s) = (a.strides(), b.strides(), c.strides());
    let (c_rs, c_cs) = (c_s[0], c_s[1]);
    let dst = c.as_mut_ptr();
    // SAFETY: the shapes were checked above, so every index gemm forms, `row · rs + col · cs`
    // within (m, k), (k, n) and (m, n), lies inside the views, whose strides are passed as they
    // are; `c` is borrowed mutably, so it overlaps neither `a` nor `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            c_cs,
            c_rs,
            beta != 0.0,
            a.as_ptr(),
            a_s[1],
            a_s[0],
            b.as_ptr(),
            b_s[1],
            b_s[0],
            beta,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn filled(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut state = seed;
        Array2::from_shape_fn((rows, cols), |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
    }

    #[test]
    fn packed_products_equal_the_plain_product_at_every_edge() {
        let mut a_buf = Vec::new();
        let mut packed = PackedB::default();
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 7, 20),
            (16, 256, 1024),
            (29, 33, 17),
            (4, 16, 16),
        ] {
            let a = filled(m, k, 1);
            let b = filled(k, n, 2);
            let c0 = filled(m, n, 3);
            let want = a.dot(&b);
            for transposed in [false, true] {
                // The same B, given once as it lies and once as the transpose of its transpose.
                let bt = b.t().to_owned();
                if transposed {
                    packed.pack(bt.t());
                } else {
                    packed.pack(b.view());
                }
                let mut c = c0.clone();
                let a_slice = a.as_slice().unwrap();
                matmul_packed::<f64, false>(
                    a_slice,
                    m,
                    &packed,
                    c.as_slice_mut().unwrap(),
                    false,
                    &mut a_buf,
                );
                assert!((&c - &want).iter().all(|d| d.abs() < 1e-12), "{m}x{k}x{n}");
                let mut c = c0.clone();
                matmul_packed::<f64, true>(
                    a_slice,
                    m,
                    &packed,
                    c.as_slice_mut().unwrap(),
                    true,
                    &mut a_buf,
                );
                assert!(
                    (&c - &(&want + &c0)).iter().all(|d| d.abs() < 1e-12),
                    "{m}x{k}x{n} +="
                );
            }
        }
    }

    #[test]
    fn gemm_f32_equals_ndarrays_product_with_any_layout_and_beta() {
        for &(m, k, n) in &[(1, 1, 1), (7, 3, 5), (64, 33, 130), (3, 0, 4)] {
            let a = filled(m, k, 4).mapv(|v| v as f32);
            let b = filled(k, n, 5).mapv(|v| v as f32);
            let bt = b.t().to_owned();
            let c0 = filled(m, n, 6).mapv(|v| v as f32);
            for (beta, b_view) in [(0.0, b.view()), (1.0, bt.t())] {
                let mut c = c0.clone();
                gemm_f32(a.view(), b_view, beta, &mut c.view_mut());
                let want = a.dot(&b) + &c0 * beta;
                let worst = (&c - &want).iter().fold(0.0f32, |w, d| w.max(d.abs()));
                assert!(worst < 1e-4, "{m}x{k}x{n} beta {beta}: off by {worst}");
            }
        }
    }
}
