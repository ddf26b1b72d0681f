//! What the editor shows, shared between the threads without locks on the audio side:
//!
//! - [`LiveView`]: the audio thread publishes bar:beat, the chord played over, the last
//!   [`RECENT`] generated values and the model's three most likely values, each in atomics
//!   (one value a word, so a reader never sees half of one); the editor reads them each frame.
//! - [`Panels`]: what the weights loader thread knows (the model playing, the last load error,
//!   the typed changes' state), behind mutexes that only the loader and the editor take.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::engine::Generated;
use crate::model::lstm::Model;
use crate::music::grammar::Role;
use crate::music::theory::{Chord, PcSet, Quality};

/// Generated values the live panel keeps.
pub const RECENT: usize = 16;

/// One generated value as the piano roll draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentValue {
    /// Count of values generated before it (its place in time).
    pub serial: u64,
    /// MIDI note, None for a rest.
    pub note: Option<u8>,
    pub role: Role,
    /// Vocabulary index.
    pub value_index: u16,
}

impl RecentValue {
    fn pack(self) -> u64 {
        let role = Role::ALL.iter().position(|&r| r == self.role).unwrap_or(0) as u64;
        let note = self.note.map_or(0xFF, u64::from);
        // bit 63: present; 62..32: serial (31 bits); 31..24: note; 23..16: role; 15..0: index.
        (1 << 63)
            | ((self.serial & 0x7FFF_FFFF) << 32)
            | (note << 24)
            | (role << 16)
            | u64::from(self.value_index)
    }

    fn unpack(word: u64) -> Option<RecentValue> {
        if word >> 63 == 0 {
            return None;
        }
        let note = ((word >> 24) & 0xFF) as u8;
        Some(RecentValue {
            serial: (word >> 32) & 0x7FFF_FFFF,
            note: (note != 0xFF).then_some(note),
            role: Role::ALL[((word >> 16) & 0xFF) as usize % Role::ALL.len()],
            value_index: (word & 0xFFFF) as u16,
        })
    }
}

/// The engine's view for the live panel. Written by the audio thread only.
#[derive(Debug)]
pub struct LiveView {
    /// Bar (high 32 bits, signed) and the beat within it in thousandths (low 32 bits).
    bar_beat: AtomicU64,
    /// Whether the transport runs (1) or not (0).
    playing: AtomicU32,
    /// The chord: bit 31 set when known; pitch classes in bits 0..12, root 12..16, quality 16..18.
    chord: AtomicU32,
    recent: [AtomicU64; RECENT],
    /// Values published so far.
    published: AtomicUsize,
    /// The three most likely values: index (high 32 bits) and probability (f32 bits, low 32).
    top: [AtomicU64; 3],
}

impl Default for LiveView {
    fn default() -> Self {
        LiveView {
            bar_beat: AtomicU64::new(0),
            playing: AtomicU32::new(0),
            chord: AtomicU32::new(0),
            recent: Default::default(),
            published: AtomicUsize::new(0),
            top: Default::default(),
        }
    }
}

fn pack_chord(chord: &Chord) -> u32 {
    let quality = match chord.quality {
        Quality::Major => 0,
        Quality::Minor => 1,
        Quality::Other => 2,
    };
    (1 << 31) | u32::from(chord.pcs.0) | (u32::from(chord.root & 0x0F) << 12) | (quality << 16)
}

fn unpack_chord(word: u32) -> Option<Chord> {
    if word >> 31 == 0 {
        return None;
    }
    Some(Chord {
        pcs: PcSet((word & 0x0FFF) as u16),
        root: ((word >> 12) & 0x0F) as u8,
        quality: match (word >> 16) & 0x3 {
            0 => Quality::Major,
            1 => Quality::Minor,
            _ => Quality::Other,
        },
    })
}

impl LiveView {
    /// Audio thread: where the block starts and whether the transport runs.
    pub fn set_position(&self, playing: bool, bar: i64, beat_in_bar: f64) {
        let beat = (beat_in_bar.max(0.0) * 1000.0)
            .round()
            .min(f64::from(u32::MAX)) as u64;
        let bar = (bar.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32 as u32) as u64;
        self.bar_beat.store((bar << 32) | beat, Ordering::Relaxed);
        self.playing.store(u32::from(playing), Ordering::Relaxed);
    }

    /// Audio thread: the chord the engine plays over now.
    pub fn set_chord(&self, chord: &Chord) {
        self.chord.store(pack_chord(chord), Ordering::Relaxed);
    }

    /// Audio thread: a value just generated, and the model's odds for the next one (the
    /// distribution it drew this value from, `model.probabilities()`).
    pub fn push(&self, generated: &Generated, model: &Model) {
        let serial = self.published.load(Ordering::Relaxed);
        let role = model
            .vocab()
            .get(generated.value_index)
            .map_or(Role::Rest, |v| v.role);
        let value = RecentValue {
            serial: serial as u64,
            note: generated.note,
            role,
            value_index: generated.value_index.min(usize::from(u16::MAX)) as u16,
        };
        self.recent[serial % RECENT].store(value.pack(), Ordering::Relaxed);
        self.published.store(serial + 1, Ordering::Release);
        let mut best = [(usize::MAX, f32::NEG_INFINITY); 3];
        for (i, &p) in model.probabilities().iter().enumerate() {
            if p > best[2].1 {
                best[2] = (i, p);
                best.sort_by(|a, b| b.1.total_cmp(&a.1));
            }
        }
        for (slot, (i, p)) in self.top.iter().zip(best) {
            let word = if i == usize::MAX {
                0
            } else {
                ((i as u64 + 1) << 32) | u64::from(p.to_bits())
            };
            slot.store(word, Ordering::Relaxed);
        }
    }

    /// Editor: (bar, beat within it, playing).
    pub fn position(&self) -> (i64, f64, bool) {
        let word = self.bar_beat.load(Ordering::Relaxed);
        let bar = i64::from((word >> 32) as u32 as i32);
        let beat = (word & 0xFFFF_FFFF) as f64 / 1000.0;
        (bar, beat, self.playing.load(Ordering::Relaxed) == 1)
    }

    /// Editor: the chord played over, if the engine has played.
    pub fn chord(&self) -> Option<Chord> {
        unpack_chord(self.chord.load(Ordering::Relaxed))
    }

    /// Editor: the last values generated, oldest first (at most [`RECENT`]).
    pub fn recent(&self) -> Vec<RecentValue> {
        let published = self.published.load(Ordering::Acquire);
        let mut values: Vec<RecentValue> = self
            .recent
            .iter()
            .filter_map(|w| RecentValue::unpack(w.load(Ordering::Relaxed)))
            .filter(|v| (v.serial as usize) < published)
            .collect();
        values.sort_by_key(|v| v.serial);
        values
    }

    /// Editor: the three most likely values (vocabulary index, probability), most likely first.
    pub fn top(&self) -> Vec<(usize, f32)> {
        self.top
            .iter()
            .filter_map(|w| {
                let word = w.load(Ordering::Relaxed);
                (word >> 32 != 0).then(|| ((word >> 32) as usize - 1, f32::from_bits(word as u32)))
            })
            .collect()
    }

    /// Values published so far.
    pub fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }
}

/// What the model panel shows of the model playing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelInfo {
    /// "built-in model" or the file's path.
    pub name: String,
    pub vocab: Vec<String>,
    pub hidden: usize,
    pub training_files: Vec<String>,
    /// The training melodies' figures (as `jazz-synth quality` prints them), if recorded.
    pub figures: Option<String>,
    pub final_loss: Option<f32>,
    /// The styles the model learned (the style menu after "any"); empty for most models.
    pub styles: Vec<String>,
}

impl ModelInfo {
    pub fn of(name: impl Into<String>, model: &Model) -> ModelInfo {
        let p = model.provenance();
        ModelInfo {
            name: name.into(),
            vocab: model.vocab().iter().map(|v| v.to_string()).collect(),
            hidden: model.hidden_size(),
            training_files: p.training_files.iter().map(|f| f.name.clone()).collect(),
            figures: p.corpus_stats.as_ref().map(|f| f.to_string()),
            final_loss: p.final_loss,
            styles: model.styles().to_vec(),
        }
    }
}

/// The typed changes as the loader judged them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ChangesState {
    /// None typed: the built-in progression plays.
    #[default]
    Builtin,
    /// These changes play (or start at the next bar).
    Playing(String),
    /// This text was refused (the message says where and why); the previous changes play.
    Refused { text: String, error: String },
}

/// What the loader thread tells the editor. Never touched by the audio thread.
#[derive(Debug, Default)]
pub struct Panels {
    pub model: Mutex<ModelInfo>,
    /// The last weights file that could not be loaded, and why.
    pub load_error: Mutex<Option<String>>,
    pub changes: Mutex<ChangesState>,
}

impl Panels {
    pub fn model(&self) -> ModelInfo {
        self.model.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn load_error(&self) -> Option<String> {
        self.load_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn changes(&self) -> ChangesState {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn set_model(&self, info: ModelInfo) {
        *self.model.lock().unwrap_or_else(|e| e.into_inner()) = info;
    }

    pub(super) fn set_load_error(&self, error: Option<String>) {
        *self.load_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    pub(super) fn set_changes(&self, state: ChangesState) {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }
}
