//! The rhythm section: a walking bass, comping and drums over a progression, bar by bar.
//!
//! Every bar is a function of the seed, its number and the chords around it, nothing else: a
//! player can start anywhere (a loop, a jump) and hear the bar it would have heard playing
//! through, and the band draws from random streams of its own, so it never touches the
//! soloist's. Times are grid ticks ([`TICKS_PER_BEAT`] per quarter note, straight: swing is the
//! player's business, as for the solo); bar `b` spans ticks `b·L .. (b+1)·L` for bars of `L`
//! ticks.
//!
//! - **Bass**: a quarter note on every beat. Every bar's downbeat and every beat where the chord
//!   changes is a *target*, a chord tone (mostly the root, else the third or fifth, the slash
//!   bass when there is one) in the octave from C2 to B2. The beat before a target approaches
//!   it: a semitone above or below, a scale step, or its fifth from above. Beats between walk
//!   towards the next target on chord tones and scale tones of their chord.
//! - **Comping**: one of a handful of syncopated one-bar rhythms (Charleston, its reverse,
//!   pushes on the "and" of 2 and 4, …), each hit a rootless voicing (3-5-7-9 or 7-9-3-5, a
//!   thirteenth for the fifth on dominants) or a shell (root, third and seventh) around middle
//!   C. A hit an eighth before a chord change plays the coming chord, as pianists anticipate.
//! - **Drums** (General MIDI, channel 10): the ride's "ding, ding-da" (every beat, and the
//!   off-beat eighth of every second beat), the hi-hat pedal on beats 2 and 4 (every second
//!   beat), a feathered bass drum on every beat and a ghosted snare or two.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::music::changes::{ChordSymbol, Progression};

/// Grid ticks per quarter note (the engine's grid).
pub const TICKS_PER_BEAT: i64 = 12;
/// The General MIDI drum channel, 0-based (channel 10 as synths count).
pub const DRUM_CHANNEL: u8 = 9;
/// The most notes one bar holds; a bar longer than 16 quarter notes is cut off there.
pub const MAX_BAR_NOTES: usize = 256;
/// Beats of a bar the band plays (the rest of a longer bar is silent).
const MAX_BAR_BEATS: i64 = 16;

/// General MIDI drum keys.
const RIDE: u8 = 51;
const PEDAL_HI_HAT: u8 = 44;
const BASS_DRUM: u8 = 36;
const SNARE: u8 = 38;

/// The lowest note of the octave the bass's targets sit in (C2) and the bass's whole range
/// (E1 to G3).
const BASS_TARGET_LOW: i32 = 36;
const BASS_RANGE: (i32, i32) = (28, 55);
/// The lowest note of a rootless voicing (C3 to B3) and of a shell's root (G2 to F#3).
const ROOTLESS_LOW: i32 = 48;
const SHELL_LOW: i32 = 43;

/// Salt for the band's seeds, so its streams never meet the soloist's.
const BAND_SALT: u64 = 0xB4AD_5EC7_10A1_2345;

/// The part a note belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Bass,
    Comping,
    Drums,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Bass, Part::Comping, Part::Drums];

    /// The part's name, for MIDI track names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Part::Bass => "Bass",
            Part::Comping => "Comping",
            Part::Drums => "Drums",
        }
    }
}

/// One note of the band, on the straight grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandNote {
    /// Note-on, grid ticks from host beat 0.
    pub start: i64,
    /// Note-off, grid ticks; `end > start`.
    pub end: i64,
    /// MIDI note number.
    pub note: u8,
    pub velocity: u8,
    /// MIDI channel, 0-based.
    pub channel: u8,
    pub part: Part,
}

/// The notes of one bar, in order of onset. Fixed size: filling it never allocates.
#[derive(Clone, Debug)]
pub struct BarNotes {
    notes: [BandNote; MAX_BAR_NOTES],
    len: usize,
    /// The bar these notes are of.
    pub bar: i64,
}

impl Default for BarNotes {
    fn default() -> Self {
        BarNotes {
            notes: [BandNote {
                start: 0,
                end: 1,
                note: 0,
                velocity: 1,
                channel: 0,
                part: Part::Drums,
            }; MAX_BAR_NOTES],
            len: 0,
            bar: i64::MIN,
        }
    }
}

impl BarNotes {
    /// The notes, sorted by onset.
    pub fn notes(&self) -> &[BandNote] {
        &self.notes[..self.len]
    }

    fn push(&mut self, n: BandNote) {
        if self.len < MAX_BAR_NOTES && n.end > n.start {
            self.notes[self.len] = n;
            self.len += 1;
        }
    }

    fn sort(&mut self) {
        // Stable, so a chord's notes keep their order; no allocation (insertion sort on a
        // few hundred notes at most).
        let notes = &mut self.notes[..self.len];
        for i in 1..notes.len() {
            let mut j = i;
            while j > 0 && notes[j - 1].start > notes[j].start {
                notes.swap(j - 1, j);
                j -= 1;
            }
        }
    }
}

/// MIDI channels (0-based) of the parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandChannels {
    pub bass: u8,
    pub comping: u8,
    pub drums: u8,
}

impl BandChannels {
    /// Bass and comping on the first channels from 4 (as synths count) that the solo (0-based
    /// `solo_channel`) and the drums leave free; drums on channel 10.
    pub fn around_solo(solo_channel: u8) -> BandChannels {
        let mut free = (3..16u8).filter(|&c| c != solo_channel && c != DRUM_CHANNEL);
        let bass = free.next().unwrap_or(3);
        let comping = free.next().unwrap_or(4);
        BandChannels {
            bass,
            comping,
            drums: DRUM_CHANNEL,
        }
    }

    /// The channel of `part`.
    pub fn of(&self, part: Part) -> u8 {
        match part {
            Part::Bass => self.bass,
            Part::Comping => self.comping,
            Part::Drums => self.drums,
        }
    }
}

/// The rhythm section of one tune: what it plays in any bar.
#[derive(Clone, Debug)]
pub struct Band {
    progression: Progression,
    /// Ticks per host bar.
    bar_ticks: i64,
    /// Quarter notes per bar of the progression and of the host (they may differ: a 4/4 chart
    /// in a 3/4 song gives each chart bar 3 beats, as the soloist hears it).
    chart_bar: f64,
    host_bar: f64,
    seed: u64,
    channels: BandChannels,
}

impl Band {
    /// The band over `progression` (cycled), in host bars of `quarters_per_bar` quarter notes
    /// (non-positive or absurd lengths count as 4), with `seed`, on `channels`.
    pub fn new(
        progression: Progression,
        quarters_per_bar: f64,
        seed: u64,
        channels: BandChannels,
    ) -> Band {
        let host_bar = if quarters_per_bar.is_finite() && (0.25..=256.0).contains(&quarters_per_bar)
        {
            quarters_per_bar
        } else {
            4.0
        };
        let bar_ticks = ((host_bar * TICKS_PER_BEAT as f64).round() as i64).max(1);
        Band {
            chart_bar: f64::from(progression.beats_per_bar().max(1)),
            progression,
            bar_ticks,
            host_bar,
            seed,
            channels,
        }
    }

    /// Ticks per bar.
    pub fn bar_ticks(&self) -> i64 {
        self.bar_ticks
    }

    pub fn channels(&self) -> BandChannels {
        self.channels
    }

    /// The bar holding grid tick `tick`.
    pub fn bar_of(&self, tick: i64) -> i64 {
        tick.div_euclid(self.bar_ticks)
    }

    /// The chord symbol sounding at grid tick `tick` (the progression laid over the host's bars
    /// as the engine lays it).
    pub fn symbol_at(&self, tick: i64) -> ChordSymbol {
        let beat = tick as f64 / TICKS_PER_BEAT as f64;
        let position = if self.host_bar == self.chart_bar {
            beat
        } else {
            beat / self.host_bar * self.chart_bar
        };
        self.progression.symbol_at(position)
    }

    /// Writes the notes of bar `bar` into `out` (replacing what it held), sorted by onset.
    /// Never allocates.
    pub fn bar(&self, bar: i64, out: &mut BarNotes) {
        out.len = 0;
        out.bar = bar;
        let start = bar.saturating_mul(self.bar_ticks);
        let beats = ((self.bar_ticks + TICKS_PER_BEAT - 1) / TICKS_PER_BEAT).min(MAX_BAR_BEATS);
        self.walk(bar, start, beats, out);
        self.comp(bar, start, out);
        self.drums(bar, start, beats, out);
        out.sort();
    }

    fn rng(&self, bar: i64, part: Part) -> Xoshiro256PlusPlus {
        let salt = match part {
            Part::Bass => 1,
            Part::Comping => 2,
            Part::Drums => 3,
        };
        Xoshiro256PlusPlus::seed_from_u64(mix(self.seed ^ BAND_SALT, bar as u64, salt))
    }

    /// Whether the bass has a target on beat tick `tick`: a downbeat or a chord change.
    fn is_target(&self, tick: i64) -> bool {
        tick.rem_euclid(self.bar_ticks) == 0
            || self.symbol_at(tick) != self.symbol_at(tick - TICKS_PER_BEAT)
    }

    /// The note of the target at beat tick `tick`: a function of the seed, the tick and the
    /// chord alone, so the beat before can approach it without knowing the line before.
    fn target(&self, tick: i64) -> Option<i32> {
        let symbol = self.symbol_at(tick);
        if symbol.pitch_classes() == 0 {
            return None;
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(self.seed ^ BAND_SALT, tick as u64, 4));
        let root = i32::from(symbol.bass.unwrap_or(symbol.root));
        let u: f32 = rng.random();
        let changes = symbol != self.symbol_at(tick - TICKS_PER_BEAT);
        let pc = if changes || symbol.bass.is_some() || u < 0.6 {
            // Chord changes land on the root (or the written bass); a downbeat inside a chord
            // may take its third or fifth.
            root
        } else {
            let tones = chord_tones(&symbol);
            let third = tones.third.unwrap_or(7);
            let fifth = tones.fifth.unwrap_or(7);
            i32::from(symbol.root) + if u < 0.85 { third } else { fifth }
        };
        Some(BASS_TARGET_LOW + pc.rem_euclid(12))
    }

    fn walk(&self, bar: i64, start: i64, beats: i64, out: &mut BarNotes) {
        let mut rng = self.rng(bar, Part::Bass);
        let mut previous: Option<i32> = None;
        for k in 0..beats {
            let tick = start + k * TICKS_PER_BEAT;
            let symbol = self.symbol_at(tick);
            if symbol.pitch_classes() == 0 {
                // No chord (N.C.): the bass lays out.
                previous = None;
                continue;
            }
            let note = if self.is_target(tick) {
                self.target(tick)
            } else {
                // The next target and how many beats away it is (the next bar's downbeat at the
                // latest).
                let mut ahead = 1;
                while !self.is_target(tick + ahead * TICKS_PER_BEAT) && ahead < beats {
                    ahead += 1;
                }
                let next = tick + ahead * TICKS_PER_BEAT;
                match (self.target(next), previous) {
                    (Some(goal), _) if ahead == 1 => Some(approach(goal, &symbol, &mut rng)),
                    (goal, Some(from)) => {
                        let goal = goal.unwrap_or(from);
                        Some(step_towards(from, goal, ahead, &symbol, &mut rng))
                    }
                    (Some(goal), None) => Some(approach(goal, &symbol, &mut rng)),
                    (None, None) => None,
                }
            };
            if let Some(n) = note {
                let n = n.clamp(BASS_RANGE.0, BASS_RANGE.1);
                let accent = if k == 0 { 8 } else { 0 };
                out.push(BandNote {
                    start: tick,
                    end: (tick + TICKS_PER_BEAT).min(start + self.bar_ticks),
                    note: n as u8,
                    velocity: 84 + accent + rng.random_range(0..8u8),
                    channel: self.channels.bass,
                    part: Part::Bass,
                });
            }
            previous = note;
        }
    }

    fn comp(&self, bar: i64, start: i64, out: &mut BarNotes) {
        /// One-bar rhythms in eighths from the downbeat: (position, length).
        const RHYTHMS: [&[(i64, i64)]; 8] = [
            &[(0, 2), (3, 1)],         // Charleston
            &[(1, 1), (4, 2)],         // reverse Charleston
            &[(3, 1), (7, 2)],         // the "and" of 2, a push into the next bar
            &[(2, 1), (5, 2)],         // 2, the "and" of 3
            &[(0, 1), (3, 1), (6, 1)], // 1, the "and" of 2, 4
            &[(1, 2), (5, 1)],         // the "and" of 1 and of 3
            &[(7, 2)],                 // a push alone
            &[(2, 2), (7, 1)],         // 2, the "and" of 4
        ];
        const EIGHTH: i64 = TICKS_PER_BEAT / 2;
        let mut rng = self.rng(bar, Part::Comping);
        let rhythm = RHYTHMS[rng.random_range(0..RHYTHMS.len())];
        let rootless = rng.random::<f32>() < 0.7;
        let b_form = rng.random::<bool>();
        for &(eighth, length) in rhythm {
            let at = start + eighth * EIGHTH;
            if at >= start + self.bar_ticks {
                continue;
            }
            // An off-beat an eighth before a change plays the chord it anticipates.
            let now = self.symbol_at(at);
            let coming = self.symbol_at(at + EIGHTH);
            let symbol = if eighth % 2 == 1 && coming != now {
                coming
            } else {
                now
            };
            if symbol.pitch_classes() == 0 {
                continue;
            }
            let mut notes = [0i32; 4];
            let count = if rootless {
                rootless_voicing(&symbol, b_form, &mut notes)
            } else {
                shell_voicing(&symbol, &mut notes)
            };
            let velocity = 62 + rng.random_range(0..14u8);
            for &n in &notes[..count] {
                out.push(BandNote {
                    start: at,
                    end: at + length * EIGHTH - 1,
                    note: n.clamp(0, 127) as u8,
                    velocity,
                    channel: self.channels.comping,
                    part: Part::Comping,
                });
            }
        }
    }

    fn drums(&self, bar: i64, start: i64, beats: i64, out: &mut BarNotes) {
        const HIT: i64 = 3;
        let mut rng = self.rng(bar, Part::Drums);
        let ch = self.channels.drums;
        let end = start + self.bar_ticks;
        let hit = |out: &mut BarNotes, at: i64, note: u8, velocity: u8| {
            if at < end {
                out.push(BandNote {
                    start: at,
                    end: at + HIT,
                    note,
                    velocity,
                    channel: ch,
                    part: Part::Drums,
                });
            }
        };
        for k in 0..beats {
            let beat = start + k * TICKS_PER_BEAT;
            let backbeat = k % 2 == 1;
            hit(out, beat, RIDE, if backbeat { 88 } else { 80 });
            hit(out, beat, BASS_DRUM, 30);
            if backbeat {
                hit(out, beat, PEDAL_HI_HAT, 76);
                // The skip note: the off-beat eighth after 2 and 4, where swing places it.
                hit(out, beat + TICKS_PER_BEAT / 2, RIDE, 62);
            }
        }
        // A ghosted snare on an off-beat eighth or two.
        for _ in 0..rng.random_range(0..3u8) {
            let k = rng.random_range(0..beats.max(1));
            hit(
                out,
                start + k * TICKS_PER_BEAT + TICKS_PER_BEAT / 2,
                SNARE,
                34 + rng.random_range(0..20u8),
            );
        }
    }
}

/// A 64-bit mix of a seed and two numbers (splitmix64's finaliser), for per-bar streams.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A chord's guide tones, in semitones above its root.
struct ChordTones {
    third: Option<i32>,
    fifth: Option<i32>,
    seventh: Option<i32>,
    ninth: i32,
}

fn chord_tones(symbol: &ChordSymbol) -> ChordTones {
    let has = |i: i32| symbol.intervals & (1 << i) != 0;
    let first = |candidates: &[i32]| candidates.iter().copied().find(|&i| has(i));
    ChordTones {
        third: first(&[4, 3, 5, 2]),
        fifth: first(&[7, 6, 8]),
        seventh: first(&[10, 11, 9]),
        ninth: if has(1) {
            1
        } else if has(3) && has(4) {
            3
        } else {
            2
        },
    }
}

/// Pitch classes (bit set) of the chord's tones and its scale.
fn scale_of(symbol: &ChordSymbol) -> u16 {
    symbol.pitch_classes() | symbol.to_chord().scale().0
}

/// The beat before a target: a semitone above or below it, a scale step away, or its fifth
/// from above.
fn approach(goal: i32, symbol: &ChordSymbol, rng: &mut Xoshiro256PlusPlus) -> i32 {
    let scale = scale_of(symbol);
    let in_scale = |n: i32| scale & (1 << n.rem_euclid(12)) != 0;
    let u: f32 = rng.random();
    if u < 0.45 {
        if rng.random::<bool>() {
            goal - 1
        } else {
            goal + 1
        }
    } else if u < 0.8 {
        let (a, b) = if rng.random::<bool>() {
            (goal + 2, goal - 2)
        } else {
            (goal - 2, goal + 2)
        };
        [a, b, goal + 1, goal - 1]
            .into_iter()
            .find(|&n| in_scale(n))
            .unwrap_or(goal - 1)
    } else {
        goal + 7
    }
}

/// A walking step from `from` towards `goal`, `beats` away: the chord or scale tone of
/// `symbol` nearest to the even share of the way (chord tones preferred), never the same note
/// twice.
fn step_towards(
    from: i32,
    goal: i32,
    beats: i64,
    symbol: &ChordSymbol,
    rng: &mut Xoshiro256PlusPlus,
) -> i32 {
    let chord = symbol.pitch_classes();
    let scale = scale_of(symbol);
    let distance = goal - from;
    let ideal = if distance.abs() < 3 {
        // Nowhere to go: an arch up (or down, near the top of the range) and back.
        from + if from < 45 { 4 } else { -4 }
    } else {
        from + distance / beats as i32
    };
    let mut best = (i32::MAX, from);
    for n in (ideal - 4)..=(ideal + 4) {
        if n == from || !(BASS_RANGE.0..=BASS_RANGE.1).contains(&n) {
            continue;
        }
        let pc = n.rem_euclid(12);
        let cost = if chord & (1 << pc) != 0 {
            0
        } else if scale & (1 << pc) != 0 {
            2
        } else {
            continue;
        };
        let cost = cost * 4 + (n - ideal).abs() * 4 + rng.random_range(0..4);
        if cost < best.0 {
            best = (cost, n);
        }
    }
    best.1
}

/// A rootless voicing (3-5-7-9, or 7-9-3-5 as the B form; a dominant's fifth becomes its
/// thirteenth) with its lowest note from C3 to B3. Returns how many notes it wrote.
fn rootless_voicing(symbol: &ChordSymbol, b_form: bool, notes: &mut [i32; 4]) -> usize {
    let t = chord_tones(symbol);
    let third = t.third.unwrap_or(4);
    let seventh = t.seventh.unwrap_or(9);
    let dominant = third == 4 && seventh == 10;
    let fifth = if dominant { 9 } else { t.fifth.unwrap_or(7) };
    let intervals = if b_form {
        [seventh, t.ninth + 12, third + 12, fifth + 12]
    } else {
        [third, fifth, seventh, t.ninth + 12]
    };
    place(i32::from(symbol.root), &intervals, ROOTLESS_LOW, notes)
}

/// A shell voicing: root, seventh and the third above it, the root from G2 to F#3.
fn shell_voicing(symbol: &ChordSymbol, notes: &mut [i32; 4]) -> usize {
    let t = chord_tones(symbol);
    let third = t.third.unwrap_or(4);
    let seventh = t.seventh.unwrap_or(9);
    let root = i32::from(symbol.bass.unwrap_or(symbol.root));
    let intervals = [0, seventh, third + 12];
    place(root, &intervals, SHELL_LOW, notes)
}

/// `intervals` above `root`, moved by octaves so the lowest lies in `low .. low + 12`.
fn place(root: i32, intervals: &[i32], low: i32, notes: &mut [i32; 4]) -> usize {
    let lowest = intervals.iter().copied().min().unwrap_or(0);
    let base = root + lowest;
    let shift = low + (base - low).rem_euclid(12) - base;
    let mut n = 0;
    for &i in intervals.iter().take(4) {
        notes[n] = root + i + shift;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::changes::parse_changes;

    fn band(text: &str, seed: u64) -> Band {
        Band::new(
            parse_changes(text).unwrap(),
            4.0,
            seed,
            BandChannels::around_solo(0),
        )
    }

    #[test]
    fn a_bar_is_the_same_whenever_it_is_asked_for() {
        let b = band("Dm7 G7 | Cmaj7 | A7 | %", 5);
        let (mut first, mut again) = (BarNotes::default(), BarNotes::default());
        b.bar(6, &mut first);
        b.bar(2, &mut again);
        b.bar(6, &mut again);
        assert_eq!(first.notes(), again.notes());
        b.bar(7, &mut again);
        assert_ne!(first.notes(), again.notes());
    }

    #[test]
    fn notes_lie_in_their_bar_in_order() {
        let b = band("F7 | Bb7 | F7 | Cm7 F7", 9);
        let mut bar = BarNotes::default();
        for index in 0..40 {
            b.bar(index, &mut bar);
            let notes = bar.notes();
            assert!(notes.windows(2).all(|w| w[0].start <= w[1].start));
            for n in notes {
                assert!(n.start >= index * 48 && n.start < (index + 1) * 48, "{n:?}");
                assert!(n.end > n.start);
            }
        }
    }

    #[test]
    fn voicings_hold_the_guide_tones() {
        let symbol = crate::music::changes::parse_symbol("G7").unwrap();
        let mut notes = [0; 4];
        let k = rootless_voicing(&symbol, false, &mut notes);
        let pcs: Vec<i32> = notes[..k].iter().map(|n| n.rem_euclid(12)).collect();
        // B (third), E (thirteenth), F (seventh), A (ninth): no root.
        assert_eq!(pcs, [11, 4, 5, 9]);
        assert!((48..60).contains(&notes[0]));
        let k = shell_voicing(&symbol, &mut notes);
        let pcs: Vec<i32> = notes[..k].iter().map(|n| n.rem_euclid(12)).collect();
        assert_eq!(pcs, [7, 5, 11]);
    }

    #[test]
    fn band_channels_stay_clear_of_the_solo_and_the_drums() {
        for solo in 0..16 {
            let c = BandChannels::around_solo(solo);
            assert_eq!(c.drums, DRUM_CHANNEL);
            for ch in [c.bass, c.comping] {
                assert_ne!(ch, solo);
                assert_ne!(ch, DRUM_CHANNEL);
            }
            assert_ne!(c.bass, c.comping);
        }
    }
}
