//! Training and scoring the chord-aware model on a collection of solos (`--preset jazz`).
//!
//! - [`Split`]: whole solos are held out by a stable hash of each file's bytes (SHA-256), so
//!   every run, on any machine, puts the same solos in the same part.
//! - [`SplitCorpus`]: a collection's solos, the files skipped and the split, read once for both
//!   training and the dataset export.
//! - [`JazzVocab`]: the values seen at least `min_count` times in the training solos; a rarer
//!   value is mapped to the nearest kept one (same role, nearest duration, nearest interval).
//! - [`Encoded`]: solos as value indices plus one conditioning vector per value.
//! - [`learn_pitch_model`]: the pitch and exact-length distributions of [`PitchModel`].
//! - [`score`]: held-out negative log-likelihood per value and per note (pitch and length on a
//!   1/24-beat grid, the whole system), beside a unigram and a Kneser-Ney trigram.

use std::collections::HashMap;

use serde::Serialize;

use std::sync::atomic::Ordering;

use crate::model::lstm::{argmax, Conditioning, Model, Provenance, Validation};
use crate::music::conditioning::{write_style, COND_SIZE, LAYOUT, LAYOUT_STYLED};
use crate::music::contour::encoded_interval;
use crate::music::grammar::{Role, Value};
use crate::music::pitch::{value_twelfths, PitchModel, MAX_DUR24};
use crate::train::corpus::{self, AutoOptions, CorpusError, Input, Solo};
use crate::train::evaluate::{Ended, Stopping};
use crate::train::ngram::{KneserNey3, Unigram};
use crate::train::{EpochStats, TrainConfig, TrainError, Trainer};

/// Probabilities below this count as this when scoring.
const MIN_PROB: f64 = 1e-12;

/// The pitches a note is scored over (A0 to C8).
pub const SCORE_RANGE: (u8, u8) = (21, 108);

/// Which part of a collection a solo belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Train,
    Validation,
    Test,
}

/// The held-out shares: a solo whose hash position `u` (the first 64 bits of its SHA-256 over
/// 2^64, in [0, 1)) is below `test` is a test solo, below `test + validation` a validation solo,
/// and a training solo otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Split {
    pub validation: f64,
    pub test: f64,
}

impl Split {
    /// The split a model's weights record (`corpus.split`, written by `--preset jazz`).
    pub fn recorded_in(model: &Model) -> Option<Split> {
        let s = model.provenance().corpus.as_ref()?.get("split")?;
        Some(Split {
            validation: s.get("validation")?.as_f64()?,
            test: s.get("test")?.as_f64()?,
        })
    }

    /// The part of the solo whose file has this SHA-256 (hex).
    pub fn part(&self, sha256: &str) -> Part {
        let u = hash_position(sha256);
        if u < self.test {
            Part::Test
        } else if u < self.test + self.validation {
            Part::Validation
        } else {
            Part::Train
        }
    }
}

/// A collection read for `--preset jazz`: the solos, the files that could not be used and the
/// split that puts each solo in its part. Training and the dataset export read it the same way.
#[derive(Clone, Debug)]
pub struct SplitCorpus {
    /// Every solo read, in the order of the inputs.
    pub solos: Vec<Solo>,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<CorpusError>,
    pub split: Split,
}

impl SplitCorpus {
    /// Reads `inputs` (a file's own track choices replace `options`); a file that cannot be
    /// used is skipped with its reason.
    pub fn read(inputs: &[Input], options: &AutoOptions, split: Split) -> SplitCorpus {
        let (solos, skipped) = corpus::load_solos(inputs, options);
        SplitCorpus {
            solos,
            skipped,
            split,
        }
    }

    /// The part `solo` belongs to.
    pub fn part_of(&self, solo: &Solo) -> Part {
        self.split.part(&solo.sha256)
    }

    /// The solos of one part, in the order of the inputs.
    pub fn solos_of(&self, part: Part) -> Vec<&Solo> {
        self.solos
            .iter()
            .filter(|s| self.part_of(s) == part)
            .collect()
    }

    /// The training solos; fails, saying why, when none is left to train on.
    pub fn training(&self) -> Result<Vec<&Solo>, String> {
        let train = self.solos_of(Part::Train);
        if train.is_empty() {
            return Err(format!(
                "no solo to train on: {} file(s) read, {} skipped{}",
                self.solos.len(),
                self.skipped.len(),
                if self.solos.is_empty() {
                    ""
                } else {
                    "; all were held out (try --validation 0 --test 0 for a tiny collection)"
                }
            ));
        }
        Ok(train)
    }
}

/// Position in [0, 1) of a hex SHA-256 (its first 16 hex digits as a fraction of 2^64).
pub fn hash_position(sha256: &str) -> f64 {
    let head: String = sha256.chars().take(16).collect();
    let x = u64::from_str_radix(&head, 16).unwrap_or(0);
    x as f64 / 18_446_744_073_709_551_616.0
}

/// The vocabulary of a chord-aware model and the mapping of any value onto it.
#[derive(Clone, Debug)]
pub struct JazzVocab {
    values: Vec<Value>,
    lookup: HashMap<String, usize>,
}

impl JazzVocab {
    /// The values of `solos` seen at least `min_count` times (rests always kept), sorted by
    /// their text as the seed's vocabulary is.
    pub fn build(solos: &[&Solo], min_count: usize) -> JazzVocab {
        let mut counts: HashMap<String, (usize, Value)> = HashMap::new();
        for solo in solos {
            for n in &solo.notes {
                counts.entry(n.value.to_string()).or_insert((0, n.value)).0 += 1;
            }
        }
        let mut kept: Vec<(String, Value)> = counts
            .into_iter()
            .filter(|(_, (c, v))| *c >= min_count.max(1) || v.is_rest())
            .map(|(k, (_, v))| (k, v))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        JazzVocab::from_values(
            kept.into_iter()
                .map(|(k, v)| Value::parse(&k).unwrap_or(v))
                .collect(),
        )
    }

    /// The vocabulary of a model (its values in index order).
    pub fn from_values(values: Vec<Value>) -> JazzVocab {
        let lookup = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), i))
            .collect();
        JazzVocab { values, lookup }
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The index of `value`, or of the nearest value of the vocabulary when it is not in it
    /// (`false`): same role (and with or without an interval alike) first, then the distance
    /// 4·|log2 duration ratio| + |interval difference| / 2.
    pub fn map(&self, value: &Value) -> (usize, bool) {
        if let Some(&i) = self.lookup.get(&value.to_string()) {
            return (i, true);
        }
        let step = encoded_interval(value);
        let mut best = (f64::INFINITY, 0usize);
        for (i, v) in self.values.iter().enumerate() {
            let mut d = 4.0 * (v.duration / value.duration).log2().abs();
            if v.role != value.role {
                d += 1000.0;
            }
            match (step, encoded_interval(v)) {
                (Some(a), Some(b)) => d += f64::from((a - b).abs()) / 2.0,
                (None, None) => {}
                _ => d += 100.0,
            }
            if d < best.0 {
                best = (d, i);
            }
        }
        (best.1, false)
    }
}

/// Solos as the network reads them: value indices and one conditioning vector per value, all
/// solos one after the other.
#[derive(Clone, Debug, Default)]
pub struct Encoded {
    pub indices: Vec<usize>,
    /// `[indices.len(), width]` row-major.
    pub cond: Vec<f32>,
    /// Numbers per conditioning vector: [`COND_SIZE`], plus one per style with styles.
    pub width: usize,
    /// The styles of the style block (`jazz-synth/cond-2`), in order; empty for `cond-1`.
    pub styles: Vec<String>,
    /// Where each solo starts in `indices` (and one past the end).
    pub starts: Vec<usize>,
    /// Values that were not in the vocabulary and went to their nearest.
    pub mapped: usize,
}

impl Encoded {
    /// The solos with the chord inputs only (`jazz-synth/cond-1`).
    pub fn of(solos: &[&Solo], vocab: &JazzVocab) -> Encoded {
        Encoded::of_styled(solos, vocab, &[], &[])
    }

    /// The solos with a style block of `styles` after the chord inputs (none when `styles` is
    /// empty): solo `k` in knob position `style_of[k]` (0 = "any"; missing = "any").
    pub fn of_styled(
        solos: &[&Solo],
        vocab: &JazzVocab,
        styles: &[String],
        style_of: &[usize],
    ) -> Encoded {
        let width = COND_SIZE + styles.len();
        let mut e = Encoded {
            width,
            styles: styles.to_vec(),
            ..Encoded::default()
        };
        for (k, solo) in solos.iter().enumerate() {
            e.starts.push(e.indices.len());
            let style = style_of.get(k).copied().unwrap_or(0);
            for n in &solo.notes {
                let (i, exact) = vocab.map(&n.value);
                e.mapped += usize::from(!exact);
                e.indices.push(i);
                let at = e.cond.len();
                e.cond.resize(at + width, 0.0);
                n.ctx.write(&mut e.cond[at..]);
                write_style(&mut e.cond[at..], styles.len(), style);
            }
        }
        e.starts.push(e.indices.len());
        e
    }

    /// The value indices of solo `k`.
    pub fn solo(&self, k: usize) -> &[usize] {
        &self.indices[self.starts[k]..self.starts[k + 1]]
    }

    pub fn solos(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
}

/// The pitch model of `solos`, with each note's value mapped onto `vocab` first (so the offsets
/// measure where notes sat against the values the model can write).
pub fn learn_pitch_model(solos: &[&Solo], vocab: &JazzVocab) -> PitchModel {
    let mut model = PitchModel::default();
    for solo in solos {
        for n in &solo.notes {
            let value = vocab.values()[vocab.map(&n.value).0];
            model.add_duration(&value, n.dur24);
            if let Some(key) = n.key {
                model.add_note(&value, n.ctx.prev_pitch, key);
            }
        }
    }
    model
}

/// Mean negative log-likelihood per value of `enc` under `model`, each solo from a zero state
/// (the first step fed the zero input, as the engine starts), and the top-1 accuracy.
pub fn value_nll(model: &mut Model, enc: &Encoded) -> (f64, f64, usize) {
    let (mut nll, mut hits, mut n) = (0.0, 0usize, 0usize);
    for k in 0..enc.solos() {
        model.reset();
        let mut input = None;
        for at in enc.starts[k]..enc.starts[k + 1] {
            let cond = &enc.cond[at * enc.width..(at + 1) * enc.width];
            let probs = model.step_with(input, cond);
            let target = enc.indices[at];
            nll -= f64::from(probs[target]).max(MIN_PROB).ln();
            hits += usize::from(argmax(probs) == target);
            n += 1;
            input = Some(target);
        }
    }
    model.reset();
    (nll / n.max(1) as f64, hits as f64 / n.max(1) as f64, n)
}

/// Held-out figures of a model on a set of solos (all NLLs in nats, per value or per note).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Scores {
    pub files: usize,
    /// Elements scored: notes and rests.
    pub notes: usize,
    pub nll_value: f64,
    pub ppl_value: f64,
    pub acc_value: f64,
    pub nll_value_unigram: Option<f64>,
    pub nll_value_trigram: Option<f64>,
    pub acc_value_trigram: Option<f64>,
    /// Pitch (or rest) and length (1/24 beat) of the element, by the whole system.
    pub nll_note: f64,
    pub nll_note_pitch: f64,
    pub nll_note_duration: f64,
    pub ppl_pitch: f64,
    pub ppl_duration: f64,
    pub acc_pitch: f64,
    pub acc_duration: f64,
    /// The same with the trigram in place of the network.
    pub nll_note_trigram: Option<f64>,
    /// Share of the scored values not in the vocabulary (mapped to their nearest).
    pub fallback_share: f64,
}

/// Per-grid-length probabilities of every exact length (normalised once).
struct DurationTables {
    grids: Vec<u32>,
    /// `[grids.len()][MAX_DUR24]`
    probs: Vec<Vec<f64>>,
}

impl DurationTables {
    fn of(pitch: &PitchModel, vocab: &JazzVocab) -> DurationTables {
        let mut grids: Vec<u32> = vocab.values().iter().map(value_twelfths).collect();
        grids.sort_unstable();
        grids.dedup();
        let probs = grids
            .iter()
            .map(|&g| {
                let v = Value {
                    role: Role::Rest,
                    duration: f64::from(g) / 12.0,
                    range: None,
                };
                (1..=MAX_DUR24 as u32)
                    .map(|d| pitch.duration_probability(&v, d))
                    .collect()
            })
            .collect();
        DurationTables { grids, probs }
    }

    fn slot(&self, value: &Value) -> usize {
        let g = value_twelfths(value);
        self.grids.binary_search(&g).unwrap_or(0)
    }
}

/// Values that share a role and an interval share a pitch distribution: key of value `v`,
/// `row * 27 + (interval + 13)` (26 for no interval), or `None` for a rest.
const PITCH_KEYS: usize = 4 * 27;

fn pitch_key(v: &Value) -> Option<usize> {
    let row = match v.role {
        Role::Chord => 0,
        Role::Scale => 1,
        Role::Approach => 2,
        Role::Other => 3,
        Role::Rest => return None,
    };
    let col = encoded_interval(v).map_or(26, |s| (s.clamp(-13, 12) + 13) as usize);
    Some(row * 27 + col)
}

/// Buffers of [`note_figures`], allocated once per scoring run.
struct NoteScratch {
    keys: Vec<Option<usize>>,
    slots: Vec<usize>,
    /// A value of each pitch key (to compute its distribution).
    key_value: Vec<Option<Value>>,
    weights: Vec<[f32; 128]>,
    totals: Vec<f32>,
    key_mass: Vec<f64>,
    mass: Vec<f64>,
}

impl NoteScratch {
    fn new(vocab: &JazzVocab, tables: &DurationTables) -> NoteScratch {
        let keys: Vec<Option<usize>> = vocab.values().iter().map(pitch_key).collect();
        let mut key_value = vec![None; PITCH_KEYS];
        for (v, k) in vocab.values().iter().zip(&keys) {
            if let Some(k) = k {
                key_value[*k].get_or_insert(*v);
            }
        }
        NoteScratch {
            slots: vocab.values().iter().map(|v| tables.slot(v)).collect(),
            keys,
            key_value,
            weights: vec![[0.0; 128]; PITCH_KEYS],
            totals: vec![0.0; PITCH_KEYS],
            key_mass: vec![0.0; PITCH_KEYS],
            mass: vec![0.0; tables.grids.len()],
        }
    }
}

/// One step's probabilities over the vocabulary turned into note figures. Returns
/// (−ln P(note), −ln P(length), pitch right, length right).
fn note_figures(
    probs: &[f64],
    tables: &DurationTables,
    pitch: &PitchModel,
    note: &crate::train::corpus::JazzNote,
    x: &mut NoteScratch,
) -> (f64, f64, bool, bool) {
    let d = (note.dur24.clamp(1, MAX_DUR24 as u32) - 1) as usize;
    let chord = &note.ctx.chord;
    let prev = note.ctx.prev_pitch;
    // The pitch distribution of every key, for this chord and previous note.
    for k in 0..PITCH_KEYS {
        x.totals[k] = match &x.key_value[k] {
            Some(v) => pitch.weights(v, chord, prev, SCORE_RANGE, &mut x.weights[k]),
            None => 0.0,
        };
    }
    x.key_mass.fill(0.0);
    x.mass.fill(0.0);
    let (mut p_note, mut p_dur, mut p_rest) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &pv) in probs.iter().enumerate() {
        if pv <= 0.0 {
            continue;
        }
        let slot = x.slots[i];
        x.mass[slot] += pv;
        let pd = tables.probs[slot][d];
        p_dur += pv * pd;
        match x.keys[i] {
            None => {
                p_rest += pv;
                if note.key.is_none() {
                    p_note += pv * pd;
                }
            }
            Some(k) => {
                x.key_mass[k] += pv;
                if let Some(key) = note.key {
                    let total = x.totals[k];
                    if total > 0.0 {
                        p_note += pv * pd * f64::from(x.weights[k][usize::from(key)] / total);
                    }
                }
            }
        }
    }
    // Pitch right: the most likely pitch (or rest) over all values.
    let mut marginal = [0.0f64; 129];
    marginal[128] = p_rest;
    for k in 0..PITCH_KEYS {
        let (m, total) = (x.key_mass[k], x.totals[k]);
        if m > 0.0 && total > 0.0 {
            let scale = m / f64::from(total);
            for (acc, &w) in marginal.iter_mut().zip(x.weights[k].iter()) {
                *acc += scale * f64::from(w);
            }
        }
    }
    let pitch_best = marginal
        .iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |b, (i, &m)| {
            if m > b.1 {
                (i, m)
            } else {
                b
            }
        })
        .0;
    // Length right: the most likely exact length.
    let mut best = (0usize, f64::NEG_INFINITY);
    for dd in 0..MAX_DUR24 {
        let m: f64 = x
            .mass
            .iter()
            .zip(&tables.probs)
            .map(|(m, t)| m * t[dd])
            .sum();
        if m > best.1 {
            best = (dd, m);
        }
    }
    let truth = note.key.map_or(128, usize::from);
    (
        -p_note.max(MIN_PROB).ln(),
        -p_dur.max(MIN_PROB).ln(),
        pitch_best == truth,
        best.0 == d,
    )
}

/// Scores `model` on `solos` (held out), with n-gram baselines fitted on `train` (value
/// indices of the training solos under the model's vocabulary; empty = no baselines). A model
/// with styles hears "any".
pub fn score(model: &mut Model, solos: &[&Solo], train: &[&[usize]]) -> Result<Scores, String> {
    score_styled(model, solos, &[], train)
}

/// [`score`] with solo `k` heard in the model's style at knob position `style_of[k]` (0 or
/// missing = "any"; ignored by a model without styles).
pub fn score_styled(
    model: &mut Model,
    solos: &[&Solo],
    style_of: &[usize],
    train: &[&[usize]],
) -> Result<Scores, String> {
    let pitch = model
        .provenance()
        .pitch_model
        .clone()
        .ok_or("the weights have no pitch model (train them with --preset jazz)")?;
    let styles = model.styles().to_vec();
    if model.cond_size() != 0 && model.cond_size() != COND_SIZE + styles.len() {
        return Err(format!(
            "the weights take {} conditioning inputs; this version knows {COND_SIZE} plus one \
             per style",
            model.cond_size()
        ));
    }
    let vocab = JazzVocab::from_values(model.vocab().to_vec());
    let enc = Encoded::of_styled(solos, &vocab, &styles, style_of);
    let n = vocab.len();
    let tables = DurationTables::of(&pitch, &vocab);
    let mut scratch = NoteScratch::new(&vocab, &tables);
    let baselines =
        (!train.is_empty()).then(|| (Unigram::fit(train, n), KneserNey3::fit(train, n)));
    let mut probs = vec![0.0f64; n];
    let mut tri = vec![0.0f64; n];
    let mut s = Scores {
        files: solos.len(),
        ..Scores::default()
    };
    let (mut uni_sum, mut tri_sum, mut tri_hits, mut tri_note) = (0.0, 0.0, 0usize, 0.0);
    let (mut pitch_hits, mut dur_hits, mut value_hits) = (0usize, 0usize, 0usize);
    for (k, solo) in solos.iter().enumerate() {
        model.reset();
        let mut input = None;
        let idx = enc.solo(k);
        for (t, note) in solo.notes.iter().enumerate() {
            let at = enc.starts[k] + t;
            let cond = &enc.cond[at * enc.width..(at + 1) * enc.width];
            let p32 = model.step_with(input, cond);
            for (d, &x) in probs.iter_mut().zip(p32) {
                *d = f64::from(x);
            }
            let target = idx[t];
            s.nll_value -= probs[target].max(MIN_PROB).ln();
            value_hits += usize::from(argmax(p32) == target);
            let (nll_note, nll_dur, ph, dh) =
                note_figures(&probs, &tables, &pitch, note, &mut scratch);
            s.nll_note += nll_note;
            s.nll_note_duration += nll_dur;
            pitch_hits += usize::from(ph);
            dur_hits += usize::from(dh);
            if let Some((uni, kn)) = &baselines {
                uni_sum -= uni.prob(target).max(MIN_PROB).ln();
                let b2 = t.checked_sub(2).map(|i| idx[i]);
                let b1 = t.checked_sub(1).map(|i| idx[i]);
                kn.distribution(b2, b1, &mut tri);
                tri_sum -= tri[target].max(MIN_PROB).ln();
                let best = tri
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (i, &p)| if p > b.1 { (i, p) } else { b },
                    );
                tri_hits += usize::from(best.0 == target);
                let (tn, _, _, _) = note_figures(&tri, &tables, &pitch, note, &mut scratch);
                tri_note += tn;
            }
            s.notes += 1;
            input = Some(target);
        }
    }
    model.reset();
    let count = s.notes.max(1) as f64;
    s.nll_value /= count;
    s.ppl_value = s.nll_value.exp();
    s.acc_value = value_hits as f64 / count;
    s.nll_note /= count;
    s.nll_note_duration /= count;
    s.nll_note_pitch = s.nll_note - s.nll_note_duration;
    s.ppl_pitch = s.nll_note_pitch.exp();
    s.ppl_duration = s.nll_note_duration.exp();
    s.acc_pitch = pitch_hits as f64 / count;
    s.acc_duration = dur_hits as f64 / count;
    s.fallback_share = enc.mapped as f64 / count;
    if baselines.is_some() {
        s.nll_value_unigram = Some(uni_sum / count);
        s.nll_value_trigram = Some(tri_sum / count);
        s.acc_value_trigram = Some(tri_hits as f64 / count);
        s.nll_note_trigram = Some(tri_note / count);
    }
    Ok(s)
}

/// How [`train_jazz`] ended, and the epochs it ran.
#[derive(Clone, Debug)]
pub struct JazzTraining {
    pub model: Model,
    /// The epoch whose weights the model has (lowest validation NLL; the last without one).
    pub kept_epoch: usize,
    pub ended: Ended,
    pub epochs: Vec<EpochStats>,
}

/// Trains on `train` and keeps the weights of the epoch with the lowest validation NLL per
/// value on `valid` (whole solos, scored as [`value_nll`] does); `stopping.patience` epochs
/// without improvement end the run, and so does `stopping.stop` (checked between epochs). `conditioned = false`
/// trains the same network without the chord inputs (for comparison). `on_epoch` sees each
/// epoch's statistics and its validation (NLL, accuracy).
pub fn train_jazz(
    train: &Encoded,
    valid: &Encoded,
    vocab: &JazzVocab,
    config: &TrainConfig,
    conditioned: bool,
    stopping: Stopping<'_>,
    mut on_epoch: impl FnMut(&EpochStats, Option<(f64, f64)>),
) -> Result<JazzTraining, TrainError> {
    let cond_size = if conditioned { train.width } else { 0 };
    let cond: &[f32] = if conditioned { &train.cond } else { &[] };
    let styles = if conditioned {
        train.styles.clone()
    } else {
        Vec::new()
    };
    let mut config = config.clone();
    config.style_slots = COND_SIZE..COND_SIZE + styles.len();
    if styles.is_empty() {
        config.style_dropout = 0.0;
    }
    let config = &config;
    let mut trainer =
        Trainer::new_conditioned(&train.indices, vocab.len(), config, cond, cond_size)?;
    let build = |trainer: &Trainer<'_>| -> Result<Model, TrainError> {
        let model = Model::new(
            trainer.params(),
            vocab.values().to_vec(),
            Provenance::default(),
        )
        .map_err(TrainError::Model)?;
        if conditioned {
            model
                .with_conditioning(Conditioning {
                    layout: if styles.is_empty() {
                        LAYOUT
                    } else {
                        LAYOUT_STYLED
                    }
                    .into(),
                    size: cond_size,
                    kernel: trainer.network().cond_params(),
                    styles: styles.clone(),
                    style_dense: trainer.network().style_dense_params(),
                })
                .map_err(TrainError::Model)
        } else {
            Ok(model)
        }
    };
    let unigram_nll = {
        let seqs: Vec<&[usize]> = (0..train.solos()).map(|k| train.solo(k)).collect();
        let uni = Unigram::fit(&seqs, vocab.len());
        let sum: f64 = valid.indices.iter().map(|&i| -uni.prob(i).ln()).sum();
        sum / valid.indices.len().max(1) as f64
    };
    let mut best: Option<(Validation, Model, EpochStats)> = None;
    let mut last: Option<Model> = None;
    let mut ended = Ended::AllEpochs;
    let mut epochs = Vec::new();
    let Stopping { patience, stop } = stopping;
    if let Some(flag) = stop {
        trainer.stop_when(flag);
    }
    let interrupted = || stop.is_some_and(|s| s.load(Ordering::SeqCst));
    for _ in 0..config.epochs {
        if interrupted() {
            ended = Ended::Interrupted;
            break;
        }
        let stats = match trainer.epoch() {
            Err(TrainError::Interrupted) => {
                ended = Ended::Interrupted;
                break;
            }
            other => other?,
        };
        let mut model = build(&trainer)?;
        let mut seen = None;
        if valid.indices.len() >= 2 {
            let (nll, accuracy, values) = value_nll(&mut model, valid);
            seen = Some((nll, accuracy));
            if best.as_ref().is_none_or(|(b, ..)| nll < b.nll) {
                let v = Validation {
                    values,
                    nll,
                    unigram_nll,
                    accuracy,
                };
                best = Some((v, model.clone(), stats.clone()));
            }
        }
        last = Some(model);
        on_epoch(&stats, seen);
        epochs.push(stats.clone());
        let since_best = best.as_ref().map_or(0, |(_, _, b)| stats.epoch - b.epoch);
        if patience.is_some_and(|p| since_best >= p) {
            ended = Ended::Patience;
            break;
        }
    }
    let (model, kept_epoch, validation, stats) = match (best, last) {
        (Some((v, m, s)), _) => (m, s.epoch, Some(v), s),
        (None, Some(m)) => {
            let s = epochs.last().cloned().ok_or(TrainError::Interrupted)?;
            (m, s.epoch, None, s)
        }
        (None, None) => return Err(TrainError::Interrupted),
    };
    let mut provenance = Provenance::default();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(config) {
        provenance.hyperparameters = map.into_iter().collect();
    }
    provenance
        .hyperparameters
        .insert("kept_epoch".into(), kept_epoch.into());
    provenance.final_loss = Some(stats.loss as f32);
    provenance.final_accuracy = Some(stats.accuracy as f32);
    provenance.validation = validation;
    let mut model = model;
    model.set_provenance(provenance);
    Ok(JazzTraining {
        model,
        kept_epoch,
        ended,
        epochs,
    })
}
