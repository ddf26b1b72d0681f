//! `f32` buffers that start on a 64-byte boundary (a cache line, and an AVX-512 register), for
//! the model's packed weights and state: the step kernels stream them in 8- and 16-float
//! chunks, and a chunk that straddles two cache lines costs a second load.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// Floats per 64-byte line.
const LINE: usize = 16;

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

/// A fixed-length `f32` buffer whose first element is 64-byte aligned. Derefs to `[f32]`.
#[derive(Clone, Default)]
pub struct AlignedF32 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF32 {
    /// `len` zeros.
    pub fn zeros(len: usize) -> AlignedF32 {
        AlignedF32 {
            lines: vec![Line::default(); len.div_ceil(LINE)],
            len,
        }
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[f32]) -> AlignedF32 {
        let mut out = AlignedF32::zeros(data.len());
        out.copy_from_slice(data);
        out
    }
}

impl Deref for AlignedF32 {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]`: 64 bytes, no padding, every bit
        // pattern a valid f32, so `lines` is `16 · lines.len()` initialised floats in a row,
        // and `len ≤ 16 · lines.len()` (set together in `zeros`, never changed).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`; the exclusive borrow of `self` makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

impl fmt::Debug for AlignedF32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for AlignedF32 {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_on_a_cache_line_and_keep_their_contents() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let data: Vec<f32> = (0..len).map(|i| i as f32 * 0.5 - 3.0).collect();
            let mut a = AlignedF32::from_slice(&data);
            assert_eq!(a.len(), len);
            assert_eq!(&a[..], &data[..]);
            assert_eq!(a.as_ptr() as usize % 64, 0, "length {len}");
            a.iter_mut().for_each(|x| *x += 1.0);
            let b = a.clone();
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert_eq!(a, b);
        }
    }
}
