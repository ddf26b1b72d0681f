//! NumPy's legacy `RandomState` (MT19937), bit for bit: the original's window draws, and the
//! trainer's initial weights and shuffles.

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
