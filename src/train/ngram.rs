//! N-gram baselines for the music model's evaluation: an add-one unigram and an
//! interpolated Kneser-Ney trigram over sequences of value indices.
//!
//! A sequence is a slice of value indices, each in `0..n_values`. Both models are
//! fitted on a set of training sequences and then give a probability to every
//! value. The trigram model sees each sequence as starting with two
//! beginning-of-sequence markers, so the first value is predicted from the
//! history "start, start" and the second from "start, first value". The marker
//! is not part of the vocabulary and is never predicted.
//!
//! # The Kneser-Ney trigram
//!
//! This is "interpolated Kneser-Ney" as described by Chen & Goodman (1998),
//! with one absolute discount per order. Writing `u v` for the two values
//! before `w`:
//!
//! ```text
//! P3(w | u v) = max(c(u v w) - D3, 0) / c(u v ·) + D3 · T(u v ·) / c(u v ·) · P2(w | v)
//! P2(w | v)   = max(N(· v w) - D2, 0) / N(· v ·) + D2 · T(v ·)   / N(· v ·) · P1(w)
//! P1(w)       = max(N(· w)   - D1, 0) / N(· ·)   + D1 · T(·)     / N(· ·)   · 1 / n_values
//! ```
//!
//! - `c(u v w)` is how many times the trigram occurs in the training data, and
//!   `c(u v ·)` is the sum over `w`.
//! - `N(· v w)` is the continuation count of the bigram `v w`: the number of
//!   different values (or the start marker) seen just before it. `N(· w)` is the
//!   number of different values (or the start marker) seen just before `w`.
//!   `N(· v ·)` and `N(· ·)` are the sums of those counts over `w`.
//! - `T(...)` is the number of different `w` with a non-zero count in the same
//!   level, so the discounted mass is handed on to the next lower level.
//! - The lowest level hands its discounted mass to the uniform distribution, so
//!   every value of the vocabulary gets a probability above zero.
//! - When a history was never seen in training (its total is zero), that level
//!   is skipped and the next lower level is used as is.
//!
//! Each discount is `D = n1 / (n1 + 2 n2)`, where `n1` and `n2` are how many
//! n-grams of that order have a count of exactly one and exactly two. The counts
//! are the ones used at that order: raw counts for trigrams, continuation counts
//! for bigrams and unigrams. `D` is clamped to `[0.1, 0.9]`; when `n1` and `n2`
//! are both zero it is 0.5.
//!
//! Bigrams that start with the marker are treated like any other bigram: their
//! continuation count is 1 (only the marker can come before them).

use std::collections::HashMap;
use std::hash::Hash;

/// The beginning-of-sequence marker in the internal `u32` keys.
const BOS: u32 = u32::MAX;
/// An out-of-range history value in the internal `u32` keys. It never occurs
/// in training, so a history that contains it is always an unseen history.
const UNKNOWN: u32 = u32::MAX - 1;

/// The smallest and largest absolute discount allowed.
const DISCOUNT_RANGE: (f64, f64) = (0.1, 0.9);
/// The discount used when an order has no count of one or two at all.
const DEFAULT_DISCOUNT: f64 = 0.5;

/// Add-one smoothed unigram over the values of the training sequences.
///
/// `P(w) = (c(w) + 1) / (N + n_values)`, where `c(w)` is how many times `w`
/// occurs in the training sequences and `N` is the total number of values.
#[derive(Clone, Debug)]
pub struct Unigram {
    /// The probability of every value in `0..n_values`.
    probs: Vec<f64>,
    /// The probability of a value that was never seen: `1 / (N + n_values)`.
    unseen: f64,
}

impl Unigram {
    /// Counts the values of `sequences`.
    ///
    /// # Panics
    ///
    /// If `n_values` is 0, or if a sequence contains a value `>= n_values`.
    pub fn fit(sequences: &[&[usize]], n_values: usize) -> Unigram {
        assert!(n_values > 0, "Unigram::fit: the vocabulary is empty");
        let mut counts = vec![0u64; n_values];
        let mut total = 0u64;
        for sequence in sequences {
            for &value in sequence.iter() {
                assert!(
                    value < n_values,
                    "Unigram::fit: value {value} is not below n_values = {n_values}"
                );
                counts[value] += 1;
                total += 1;
            }
        }
        let denominator = (total + n_values as u64) as f64;
        Unigram {
            probs: counts
                .iter()
                .map(|&count| (count + 1) as f64 / denominator)
                .collect(),
            unseen: 1.0 / denominator,
        }
    }

    /// The probability of `value`; above zero for every value below `n_values`.
    ///
    /// A value `>= n_values` does not panic: it gets the probability of a value
    /// that was never seen in training, `1 / (N + n_values)`.
    pub fn prob(&self, value: usize) -> f64 {
        self.probs.get(value).copied().unwrap_or(self.unseen)
    }
}

/// The observed followers of one history at one order of [`KneserNey3`].
#[derive(Clone, Copy, Debug)]
struct History {
    /// Where this history's followers start in the order's follower list.
    start: usize,
    /// How many different followers this history has.
    len: usize,
    /// One over the sum of the followers' counts.
    inv_total: f64,
    /// The weight given to the next lower order: `D · len / total`.
    backoff: f64,
}

/// The histories of one order of [`KneserNey3`] and their observed followers.
#[derive(Clone, Debug)]
struct Level<K> {
    /// The absolute discount of this order.
    discount: f64,
    /// Every history seen in training.
    histories: HashMap<K, History>,
    /// `(value, count)` of the followers, grouped by history and sorted by
    /// value within each group.
    followers: Vec<(u32, u32)>,
}

impl<K: Hash + Eq + Ord + Copy> Level<K> {
    /// Builds the level from `(history, value, count)` entries, each pair of
    /// history and value given once.
    fn new(mut entries: Vec<(K, u32, u32)>) -> Level<K> {
        let discount = discount(entries.iter().map(|entry| entry.2));
        entries.sort_unstable_by_key(|&(history, value, _)| (history, value));
        let mut histories = HashMap::new();
        let mut followers = Vec::with_capacity(entries.len());
        let mut rest = &entries[..];
        while let Some(&(history, _, _)) = rest.first() {
            let len = rest.iter().take_while(|entry| entry.0 == history).count();
            let start = followers.len();
            let total: u64 = rest[..len].iter().map(|entry| u64::from(entry.2)).sum();
            followers.extend(rest[..len].iter().map(|&(_, value, count)| (value, count)));
            let total = total as f64;
            histories.insert(
                history,
                History {
                    start,
                    len,
                    inv_total: 1.0 / total,
                    backoff: discount * len as f64 / total,
                },
            );
            rest = &rest[len..];
        }
        Level {
            discount,
            histories,
            followers,
        }
    }

    /// Turns `lower`, the lower order's distribution for this history, into
    /// this order's distribution, in place. Nothing changes for an unseen
    /// history.
    fn apply(&self, history: K, lower: &mut [f64]) {
        if let Some(h) = self.histories.get(&history) {
            for p in lower.iter_mut() {
                *p *= h.backoff;
            }
            for &(value, count) in &self.followers[h.start..h.start + h.len] {
                lower[value as usize] += (f64::from(count) - self.discount) * h.inv_total;
            }
        }
    }

    /// This order's probability of `value` after `history`, given `lower`, the
    /// lower order's probability of it. `value` may be out of range.
    fn prob(&self, history: K, value: usize, lower: f64) -> f64 {
        let Some(h) = self.histories.get(&history) else {
            return lower;
        };
        let followers = &self.followers[h.start..h.start + h.len];
        let own = u32::try_from(value)
            .ok()
            .and_then(|value| followers.binary_search_by_key(&value, |f| f.0).ok())
            .map_or(0.0, |i| {
                (f64::from(followers[i].1) - self.discount) * h.inv_total
            });
        own + h.backoff * lower
    }
}

/// The absolute discount `n1 / (n1 + 2 n2)` from the counts of one order,
/// clamped to [`DISCOUNT_RANGE`]; [`DEFAULT_DISCOUNT`] if there is no count of
/// one or two.
fn discount(counts: impl Iterator<Item = u32>) -> f64 {
    let (mut n1, mut n2) = (0u64, 0u64);
    for count in counts {
        match count {
            1 => n1 += 1,
            2 => n2 += 1,
            _ => {}
        }
    }
    if n1 + n2 == 0 {
        return DEFAULT_DISCOUNT;
    }
    let d = n1 as f64 / (n1 + 2 * n2) as f64;
    d.clamp(DISCOUNT_RANGE.0, DISCOUNT_RANGE.1)
}

/// Interpolated Kneser-Ney trigram (Chen & Goodman 1998, "interpolated
/// Kneser-Ney"), one absolute discount per order `D = n1 / (n1 + 2 n2)`
/// (counts-of-counts of that order, clamped to `[0.1, 0.9]`), continuation
/// counts for the lower orders, and the unigram level interpolated with the
/// uniform distribution `1 / n_values` so that every value has probability > 0.
/// Each sequence starts with two beginning-of-sequence markers (not in the
/// vocabulary, never predicted).
///
/// The formulas are in the module documentation. For every history seen in
/// training, the model keeps the list of values seen after it, so a whole
/// distribution costs `O(n_values + followers)`.
#[derive(Clone, Debug)]
pub struct KneserNey3 {
    /// The size of the vocabulary.
    n_values: usize,
    /// `P1(w)` for every value in `0..n_values`.
    unigram: Vec<f64>,
    /// The part of `P1` that comes from the uniform distribution, which is
    /// `P1` of a value never seen in training.
    unigram_floor: f64,
    /// The discount of the unigram level (kept for inspection and tests).
    unigram_discount: f64,
    /// Bigram level, keyed by the value before (or the marker).
    bigram: Level<u32>,
    /// Trigram level, keyed by the two values before (or markers).
    trigram: Level<(u32, u32)>,
}

impl KneserNey3 {
    /// Fits the model on `sequences`, each of which starts with two
    /// beginning-of-sequence markers.
    ///
    /// # Panics
    ///
    /// If `n_values` is 0 or `>= u32::MAX - 1`, or if a sequence contains a
    /// value `>= n_values`.
    pub fn fit(sequences: &[&[usize]], n_values: usize) -> KneserNey3 {
        assert!(n_values > 0, "KneserNey3::fit: the vocabulary is empty");
        assert!(
            n_values < UNKNOWN as usize,
            "KneserNey3::fit: n_values = {n_values} is too large"
        );

        // Raw trigram counts c(u v w).
        let mut trigram_counts: HashMap<(u32, u32, u32), u32> = HashMap::new();
        for sequence in sequences {
            let (mut u, mut v) = (BOS, BOS);
            for &w in sequence.iter() {
                assert!(
                    w < n_values,
                    "KneserNey3::fit: value {w} is not below n_values = {n_values}"
                );
                let w = w as u32;
                *trigram_counts.entry((u, v, w)).or_insert(0) += 1;
                (u, v) = (v, w);
            }
        }

        // Continuation counts N(· v w): one for each trigram type u v w.
        let mut bigram_counts: HashMap<(u32, u32), u32> = HashMap::new();
        for &(_, v, w) in trigram_counts.keys() {
            *bigram_counts.entry((v, w)).or_insert(0) += 1;
        }

        // Continuation counts N(· w): one for each bigram type v w.
        let mut unigram_counts = vec![0u32; n_values];
        for &(_, w) in bigram_counts.keys() {
            unigram_counts[w as usize] += 1;
        }

        let unigram_discount = discount(unigram_counts.iter().copied());
        let total: u64 = unigram_counts.iter().map(|&c| u64::from(c)).sum();
        let uniform = 1.0 / n_values as f64;
        let (unigram, unigram_floor) = if total == 0 {
            (vec![uniform; n_values], uniform)
        } else {
            let total = total as f64;
            let seen = unigram_counts.iter().filter(|&&c| c > 0).count() as f64;
            let floor = unigram_discount * seen / total * uniform;
            let probs = unigram_counts
                .iter()
                .map(|&c| (f64::from(c) - unigram_discount).max(0.0) / total + floor)
                .collect();
            (probs, floor)
        };

        let bigram = Level::new(
            bigram_counts
                .into_iter()
                .map(|((v, w), count)| (v, w, count))
                .collect(),
        );
        let trigram = Level::new(
            trigram_counts
                .into_iter()
                .map(|((u, v, w), count)| ((u, v), w, count))
                .collect(),
        );

        KneserNey3 {
            n_values,
            unigram,
            unigram_floor,
            unigram_discount,
            bigram,
            trigram,
        }
    }

    /// The three discounts `[D1, D2, D3]` (unigram, bigram, trigram level).
    pub fn discounts(&self) -> [f64; 3] {
        [
            self.unigram_discount,
            self.bigram.discount,
            self.trigram.discount,
        ]
    }

    /// The internal key of a history value: the marker for `None`, and a key
    /// that was never seen in training for a value `>= n_values`.
    fn key(&self, value: Option<usize>) -> u32 {
        match value {
            None => BOS,
            Some(v) if v < self.n_values => v as u32,
            Some(_) => UNKNOWN,
        }
    }

    /// P(value | the two values before it); `None` = beginning of sequence.
    ///
    /// Above zero for every value below `n_values`. A value `>= n_values` does
    /// not panic: it gets what a value never seen in training gets after this
    /// history (its share of the uniform floor), which is above zero too. A
    /// history value `>= n_values` is treated as a history never seen in
    /// training.
    pub fn prob(&self, before2: Option<usize>, before1: Option<usize>, value: usize) -> f64 {
        let (u, v) = (self.key(before2), self.key(before1));
        let p1 = self
            .unigram
            .get(value)
            .copied()
            .unwrap_or(self.unigram_floor);
        let p2 = self.bigram.prob(v, value, p1);
        self.trigram.prob((u, v), value, p2)
    }

    /// The whole distribution for that history into `out` (length
    /// `n_values`), summing to 1. History values are as in [`Self::prob`].
    ///
    /// # Panics
    ///
    /// If `out.len()` is not `n_values`.
    pub fn distribution(&self, before2: Option<usize>, before1: Option<usize>, out: &mut [f64]) {
        assert_eq!(
            out.len(),
            self.n_values,
            "KneserNey3::distribution: `out` must have length n_values"
        );
        let (u, v) = (self.key(before2), self.key(before1));
        out.copy_from_slice(&self.unigram);
        self.bigram.apply(v, out);
        self.trigram.apply((u, v), out);
    }

    /// Scores `sequences`, each from its beginning as in `fit`. Returns the
    /// mean negative log-likelihood per value (natural log, so in nats), the
    /// share of values that are the argmax of their distribution (top-1
    /// accuracy), and the number of values scored.
    ///
    /// The argmax is the first value with the highest probability. A value
    /// `>= n_values` is scored with [`Self::prob`] and counted as a miss.
    /// With nothing to score, the result is `(0.0, 0.0, 0)`.
    pub fn evaluate(&self, sequences: &[&[usize]]) -> (f64, f64, usize) {
        let mut dist = vec![0.0; self.n_values];
        let mut nll = 0.0;
        let mut hits = 0usize;
        let mut scored = 0usize;
        for sequence in sequences {
            let (mut before2, mut before1) = (None, None);
            for &value in sequence.iter() {
                if value < self.n_values {
                    self.distribution(before2, before1, &mut dist);
                    nll -= dist[value].ln();
                    if argmax(&dist) == value {
                        hits += 1;
                    }
                } else {
                    nll -= self.prob(before2, before1, value).ln();
                }
                scored += 1;
                (before2, before1) = (before1, Some(value));
            }
        }
        if scored == 0 {
            return (0.0, 0.0, 0);
        }
        (nll / scored as f64, hits as f64 / scored as f64, scored)
    }
}

/// The index of the first largest element of a non-empty slice.
fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &p) in values.iter().enumerate() {
        if p > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic pseudo-random generator for test corpora.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    /// Sequences of random lengths over `0..n_values`, where each value
    /// depends loosely on the one before so that the n-grams repeat.
    fn random_corpus(seed: u64, n_sequences: usize, n_values: usize) -> Vec<Vec<usize>> {
        let mut rng = Lcg(seed);
        (0..n_sequences)
            .map(|_| {
                let len = 1 + rng.below(30);
                let mut previous = rng.below(n_values);
                (0..len)
                    .map(|_| {
                        previous = if rng.below(3) == 0 {
                            rng.below(n_values)
                        } else {
                            (previous * 7 + 3) % n_values
                        };
                        previous
                    })
                    .collect()
            })
            .collect()
    }

    fn slices(sequences: &[Vec<usize>]) -> Vec<&[usize]> {
        sequences.iter().map(Vec::as_slice).collect()
    }

    /// Checks that the distribution sums to 1, is positive everywhere, and
    /// agrees with `prob`.
    fn check_distribution(model: &KneserNey3, before2: Option<usize>, before1: Option<usize>) {
        let mut dist = vec![0.0; model.n_values];
        model.distribution(before2, before1, &mut dist);
        let sum: f64 = dist.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-9,
            "history {before2:?} {before1:?}: sum {sum}"
        );
        for (value, &p) in dist.iter().enumerate() {
            assert!(p > 0.0, "history {before2:?} {before1:?}: P({value}) = {p}");
            let q = model.prob(before2, before1, value);
            assert!(
                (p - q).abs() < 1e-12,
                "history {before2:?} {before1:?}: distribution {p} but prob {q} for {value}"
            );
        }
    }

    #[test]
    fn distributions_sum_to_one_and_are_positive() {
        let n_values = 23;
        let corpus = random_corpus(7, 60, n_values);
        let model = KneserNey3::fit(&slices(&corpus), n_values);

        // Beginning-of-sequence histories.
        check_distribution(&model, None, None);
        for v in 0..n_values {
            check_distribution(&model, None, Some(v));
        }
        // Every pair of values: seen and unseen histories alike.
        let mut seen = 0;
        let mut unseen = 0;
        for u in 0..n_values {
            for v in 0..n_values {
                let key = (u as u32, v as u32);
                if model.trigram.histories.contains_key(&key) {
                    seen += 1;
                } else {
                    unseen += 1;
                }
                check_distribution(&model, Some(u), Some(v));
            }
        }
        assert!(seen > 20 && unseen > 20, "seen {seen}, unseen {unseen}");
        // Histories that cannot occur in training, and out-of-range ones.
        check_distribution(&model, Some(3), None);
        check_distribution(&model, Some(n_values + 4), Some(1));
        check_distribution(&model, Some(2), Some(usize::MAX));
    }

    #[test]
    fn hand_computed_example() {
        // Corpus, with B the start marker and n_values = 3 (value 2 never seen):
        //   [0, 1, 0] -> B B 0 1 0 -> trigrams (B,B,0) (B,0,1) (0,1,0)
        //   [1, 0]    -> B B 1 0   -> trigrams (B,B,1) (B,1,0)
        // Trigram counts are all 1: n1 = 5, n2 = 0, D3 = 5/5 = 1 -> clamped to 0.9.
        // Bigram continuation counts N(· v w), one per trigram type:
        //   (B,0) = 1, (B,1) = 1, (0,1) = 1, (1,0) = 2 (after 0 and after B).
        //   n1 = 3, n2 = 1, D2 = 3 / (3 + 2) = 0.6.
        // Unigram continuation counts N(· w), one per bigram type:
        //   N(·0) = 2 (after B and after 1), N(·1) = 2 (after B and after 0), N(·2) = 0;
        //   total 4, 2 values seen.
        //   n1 = 0, n2 = 2, D1 = 0 / 4 = 0 -> clamped to 0.1.
        // P1(0) = (2 - 0.1)/4 + 0.1 * 2/4 * 1/3 = 19/40 + 1/60 = 59/120; P1(1) the same.
        // P1(2) = 0 + 1/60 = 1/60. (Check: 59/120 * 2 + 2/120 = 1.)
        //
        // P(0 | 0 1):
        //   P2(0 | 1): followers of 1 are {0: 2}, total 2, 1 type
        //     = (2 - 0.6)/2 + 0.6 * 1/2 * 59/120 = 7/10 + 177/1200 = 1017/1200.
        //   P3 = (1 - 0.9)/1 + 0.9 * 1/1 * 1017/1200 = 1200/12000 + 9153/12000 = 10353/12000.
        //
        // P(1 | B B):
        //   P2(1 | B): followers of B are {0: 1, 1: 1}, total 2, 2 types
        //     = (1 - 0.6)/2 + 0.6 * 2/2 * 59/120 = 1/5 + 59/200 = 99/200.
        //   P3: followers of B B are {0: 1, 1: 1}, total 2, 2 types
        //     = (1 - 0.9)/2 + 0.9 * 2/2 * 99/200 = 1/20 + 891/2000 = 991/2000.
        // P(2 | B B) = 0.9 * (0.6 * 1/60) = 9/1000.
        // (Check: P(0 | B B) = P(1 | B B) by symmetry, and 2 * 991/2000 + 9/1000 = 1.)
        //
        // P(2 | 1 0), an unseen trigram history with an unseen bigram history
        // (0 is followed by 1 only): P2(2 | 0) = 0.6 * 1/1 * 1/60 = 1/100, and the
        // trigram level is skipped, so P = 1/100.
        let corpus: Vec<Vec<usize>> = vec![vec![0, 1, 0], vec![1, 0]];
        let model = KneserNey3::fit(&slices(&corpus), 3);

        let [d1, d2, d3] = model.discounts();
        assert!((d1 - 0.1).abs() < 1e-15);
        assert!((d2 - 0.6).abs() < 1e-15);
        assert!((d3 - 0.9).abs() < 1e-15);

        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(model.prob(Some(0), Some(1), 0), 10353.0 / 12000.0));
        assert!(close(model.prob(None, None, 1), 991.0 / 2000.0));
        assert!(close(model.prob(None, None, 0), 991.0 / 2000.0));
        assert!(close(model.prob(None, None, 2), 9.0 / 1000.0));
        assert!(close(model.prob(Some(1), Some(0), 2), 1.0 / 100.0));
        // An out-of-range value gets the same as a never-seen value.
        assert!(close(model.prob(None, None, 7), 9.0 / 1000.0));
    }

    #[test]
    fn trigram_beats_unigram_on_deterministic_corpus() {
        let n_values = 10;
        let sequence: Vec<usize> = (0..200).map(|i| i % n_values).collect();
        let train = vec![sequence.clone(), sequence.clone(), sequence[3..].to_vec()];
        let held_out = sequence[5..150].to_vec();

        let kn = KneserNey3::fit(&slices(&train), n_values);
        let unigram = Unigram::fit(&slices(&train), n_values);

        let (kn_nll, kn_accuracy, scored) = kn.evaluate(&[&held_out]);
        assert_eq!(scored, held_out.len());
        let unigram_nll =
            -held_out.iter().map(|&v| unigram.prob(v).ln()).sum::<f64>() / held_out.len() as f64;

        // The unigram is close to uniform here: about ln 10 = 2.30 nats.
        assert!(unigram_nll > 2.2, "unigram NLL {unigram_nll}");
        // Only the first value (an unseen start) is really uncertain.
        assert!(kn_nll < 0.1, "trigram NLL {kn_nll}");
        assert!(kn_nll < unigram_nll / 20.0);
        assert!(kn_accuracy > 0.98, "trigram accuracy {kn_accuracy}");
    }

    #[test]
    fn evaluate_matches_prob() {
        let n_values = 17;
        let train = random_corpus(11, 80, n_values);
        let test = random_corpus(12, 20, n_values);
        let model = KneserNey3::fit(&slices(&train), n_values);

        let mut nll = 0.0;
        let mut hits = 0;
        let mut count = 0;
        let mut dist = vec![0.0; n_values];
        for sequence in &test {
            for (i, &value) in sequence.iter().enumerate() {
                let before1 = i.checked_sub(1).map(|j| sequence[j]);
                let before2 = i.checked_sub(2).map(|j| sequence[j]);
                nll -= model.prob(before2, before1, value).ln();
                model.distribution(before2, before1, &mut dist);
                let best = dist.iter().cloned().fold(f64::MIN, f64::max);
                if dist[value] == best && dist[..value].iter().all(|&p| p < best) {
                    hits += 1;
                }
                count += 1;
            }
        }
        let (mean_nll, accuracy, scored) = model.evaluate(&slices(&test));
        assert_eq!(scored, count);
        assert!((mean_nll - nll / count as f64).abs() < 1e-12);
        assert!((accuracy - hits as f64 / count as f64).abs() < 1e-12);
        assert!(accuracy > 0.0);
    }

    #[test]
    fn out_of_range_value_does_not_panic() {
        let n_values = 5;
        let train = random_corpus(3, 10, n_values);
        let model = KneserNey3::fit(&slices(&train), n_values);
        for value in [n_values, n_values + 1, u32::MAX as usize, usize::MAX] {
            for (before2, before1) in [(None, None), (Some(1), Some(2)), (Some(99), Some(0))] {
                let p = model.prob(before2, before1, value);
                assert!(p > 0.0 && p < 1.0, "P({value}) = {p}");
            }
        }
        let (nll, _, scored) = model.evaluate(&[&[0, 9, 1, usize::MAX, 2]]);
        assert!(nll.is_finite());
        assert_eq!(scored, 5);

        let unigram = Unigram::fit(&slices(&train), n_values);
        assert!(unigram.prob(usize::MAX) > 0.0);
    }

    #[test]
    fn empty_training_gives_uniform() {
        let model = KneserNey3::fit(&[], 4);
        let mut dist = vec![0.0; 4];
        model.distribution(Some(1), Some(2), &mut dist);
        assert!(dist.iter().all(|&p| (p - 0.25).abs() < 1e-15));
        assert_eq!(model.evaluate(&[]), (0.0, 0.0, 0));
        let (nll, _, scored) = model.evaluate(&[&[3, 1]]);
        assert_eq!(scored, 2);
        assert!((nll - 4f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn unigram_is_add_one() {
        // Counts 0:3, 1:1, 2:0 over 4 values; N = 4, so P(w) = (c + 1) / 8.
        let unigram = Unigram::fit(&[&[0, 1, 0], &[0]], 4);
        assert_eq!(unigram.prob(0), 4.0 / 8.0);
        assert_eq!(unigram.prob(1), 2.0 / 8.0);
        assert_eq!(unigram.prob(2), 1.0 / 8.0);
        assert_eq!(unigram.prob(3), 1.0 / 8.0);
        assert_eq!(unigram.prob(4), 1.0 / 8.0);
    }

    #[test]
    fn discount_formula_and_clamp() {
        // n1 = 2, n2 = 1: 2 / (2 + 2) = 0.5.
        assert_eq!(discount([1, 1, 2, 5].into_iter()), 0.5);
        // n1 = 1, n2 = 3: 1 / 7, above the lower clamp.
        assert!((discount([1, 2, 2, 2].into_iter()) - 1.0 / 7.0).abs() < 1e-15);
        assert_eq!(discount([1, 1, 1].into_iter()), 0.9);
        assert_eq!(discount([2, 2, 7].into_iter()), 0.1);
        assert_eq!(discount([3, 4].into_iter()), DEFAULT_DISCOUNT);
    }

    #[test]
    #[should_panic(expected = "not below n_values")]
    fn fit_rejects_out_of_range_training_value() {
        KneserNey3::fit(&[&[0, 3]], 3);
    }
}
