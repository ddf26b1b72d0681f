//! The loop guard: a model trained on a large collection can lock into a short cycle of values
//! (at low temperatures one value pair 150 times in 200 steps). The engine remembers its last
//! values and, when the next one would make a cycle of 2 to 4 values go round a fourth time in
//! a row, draws among the others ([`crate::model::lstm::sample_avoiding`]). Fixed-size and
//! allocation-free (audio thread). `jazz-synth sample` does not use it: there the original's
//! greedy argmax stays exactly as it was.

/// Shortest and longest cycle (in values) the guard breaks.
pub const CYCLES: std::ops::RangeInclusive<usize> = 2..=4;
/// Full turns of a cycle allowed in a row; the value that would start one more is avoided.
pub const MAX_TURNS: usize = 3;
const HISTORY: usize = 16;

/// The last values drawn, newest last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleGuard {
    history: [usize; HISTORY],
    len: usize,
}

impl CycleGuard {
    /// Forgets everything (a new phrase, a reset).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Remembers a drawn value.
    pub fn push(&mut self, value: usize) {
        if self.len == HISTORY {
            self.history.copy_within(1.., 0);
            self.len -= 1;
        }
        self.history[self.len] = value;
        self.len += 1;
    }

    /// The values that would extend a cycle past [`MAX_TURNS`] turns; unused slots hold
    /// `usize::MAX`. Returns how many are set.
    pub fn avoid(&self, out: &mut [usize; 3]) -> usize {
        *out = [usize::MAX; 3];
        let h = &self.history[..self.len];
        let mut n = 0;
        for k in CYCLES {
            let span = MAX_TURNS * k;
            if h.len() < span {
                continue;
            }
            let tail = &h[h.len() - span..];
            let periodic = (k..span).all(|i| tail[i] == tail[i - k]);
            let next = tail[span - k];
            if periodic && !out[..n].contains(&next) {
                out[n] = next;
                n += 1;
            }
        }
        n
    }
}

/// The most turns in a row of any cycle of `CYCLES` lengths in `values`: a test and report
/// helper (a run where `values[i] == values[i - k]` for `r` steps is `(r + k) / k` turns).
pub fn longest_cycle_turns(values: &[usize]) -> usize {
    let mut most = 0;
    for k in CYCLES {
        let mut run = 0;
        for i in k..values.len() {
            if values[i] == values[i - k] {
                run += 1;
                most = most.max((run + k) / k);
            } else {
                run = 0;
            }
        }
    }
    most
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_cut_before_its_fourth_turn() {
        let mut g = CycleGuard::default();
        let mut out = [0; 3];
        for v in [1, 2, 1, 2, 1] {
            g.push(v);
            assert_eq!(g.avoid(&mut out), 0);
        }
        g.push(2); // 1 2 1 2 1 2: three turns, a fourth would start with 1
        assert_eq!(g.avoid(&mut out), 1);
        assert_eq!(out[0], 1);
        g.push(3);
        assert_eq!(g.avoid(&mut out), 0);
    }

    #[test]
    fn a_repeated_value_counts_as_a_cycle() {
        let mut g = CycleGuard::default();
        let mut out = [0; 3];
        for _ in 0..6 {
            g.push(7);
        }
        assert!(g.avoid(&mut out) >= 1);
        assert_eq!(out[0], 7);
    }

    #[test]
    fn avoided_values_are_not_drawn_while_others_can_be() {
        use crate::model::lstm::{sample_avoiding, sample_with};
        use rand::SeedableRng;
        let probs = [0.9, 0.1, 0.0];
        let mut scratch = [0.0; 3];
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for t in [0.0, 0.5, 1.0] {
            for _ in 0..100 {
                assert_eq!(sample_avoiding(&probs, t, &mut rng, &mut scratch, &[0]), 1);
            }
        }
        // Nothing else possible: the avoided value is taken rather than an impossible one.
        assert_eq!(
            sample_avoiding(&[1.0, 0.0], 0.5, &mut rng, &mut scratch, &[0]),
            0
        );
        // Nothing to avoid: the same draws as sample_with.
        let (mut a, mut b) = (
            rand::rngs::StdRng::seed_from_u64(9),
            rand::rngs::StdRng::seed_from_u64(9),
        );
        for _ in 0..100 {
            assert_eq!(
                sample_avoiding(&probs, 0.5, &mut a, &mut scratch, &[usize::MAX]),
                sample_with(&probs, 0.5, &mut b, &mut scratch)
            );
        }
    }

    #[test]
    fn turns_are_counted_per_cycle_length() {
        assert_eq!(longest_cycle_turns(&[1, 2, 1, 2, 1, 2, 1, 2, 5]), 4);
        assert_eq!(longest_cycle_turns(&[1, 2, 3, 1, 2, 3, 9]), 2);
        assert_eq!(longest_cycle_turns(&[1, 2, 3, 4, 5]), 0);
    }
}
