//! Offline rendering: the engine (and with `--band` the rhythm section) on a simulated
//! transport, written to a format-1 Standard MIDI File (tempo, chords, solo, band) and
//! optionally to a WAV file through the plugin's preview voice and a few drum sounds. Files are
//! written atomically.

use std::fmt;
use std::io;
use std::path::Path;

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::engine::preview::PreviewVoice;
use crate::engine::{
    end_sample, samples_per_beat, Generated, MidiIn, NoteEvent, Output, Transport,
    CALL_PORT_CHANNEL, TICKS_PER_BEAT,
};
use crate::music::band::{Part, DRUM_CHANNEL};
use crate::standalone::session::Setup;
use crate::train::corpus::{choose_melody_track, read_midi, AutoOptions};

/// Ticks per quarter note in written MIDI files. 480 divides evenly by 2, 3,
/// 4, 5, 6, 8, 10, 12 and 16, so every duration the grammar produces (16ths,
/// triplets) is a whole number of ticks.
pub const TICKS_PER_QUARTER: u16 = 480;

/// One note of a rendered solo or chord voicing, in samples from the start
/// of the render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderedNote {
    /// First sample of the note (the note-on).
    pub start: u64,
    /// Sample of the note-off; `end > start`.
    pub end: u64,
    /// MIDI note number.
    pub note: u8,
    pub velocity: u8,
    /// MIDI channel, 0–15.
    pub channel: u8,
}

/// A chord held over a span of the progression.
#[derive(Clone, Debug, PartialEq)]
pub struct ChordSpan {
    /// Start, in quarter notes from the start of the render.
    pub start_beat: f64,
    /// End, in quarter notes; `end_beat > start_beat`.
    pub end_beat: f64,
    /// The chord as written (`Dm7`, `G7b9`), for the MIDI text event.
    pub symbol: String,
    /// A close voicing, MIDI note numbers, lowest first.
    pub voicing: Vec<u8>,
}

/// Everything a render produced: the timeline the files are written from.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Samples per second of the simulated transport.
    pub sample_rate: f64,
    /// Constant tempo, quarter notes per minute.
    pub tempo_bpm: f64,
    /// Time signature written into the file (numerator, denominator).
    pub time_sig: (u32, u32),
    /// Length in samples; every note ends at or before it.
    pub length_samples: u64,
    /// The solo, in order of onset; monophonic.
    pub solo: Vec<RenderedNote>,
    /// The player's call jazz-synth answered (`render --call`), written on a track of its own.
    pub call: Vec<RenderedNote>,
    /// The chords; with a band their voicings are empty (the comping plays the harmony) and
    /// the chord track holds only the symbols.
    pub chords: Vec<ChordSpan>,
    /// MIDI channel (0–15) of the chord track's notes.
    pub chord_channel: u8,
    /// The rhythm section (`--band`), one track per part; empty without a band.
    pub band: Vec<BandTrack>,
}

/// One part of the rhythm section as rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct BandTrack {
    pub part: Part,
    /// MIDI channel, 0–15 (9, channel 10 as synths count, for the drums).
    pub channel: u8,
    /// In order of onset; chords are notes starting together.
    pub notes: Vec<RenderedNote>,
}

impl Timeline {
    /// Samples per quarter note.
    pub fn samples_per_beat(&self) -> f64 {
        samples_per_beat(self.sample_rate, self.tempo_bpm)
    }

    /// A sample position as MIDI ticks ([`TICKS_PER_QUARTER`] per quarter note).
    pub fn sample_to_tick(&self, sample: u64) -> u64 {
        (sample as f64 / self.samples_per_beat() * f64::from(TICKS_PER_QUARTER)).round() as u64
    }
}

/// Failure to produce an output file; the message names the file.
#[derive(Debug)]
pub struct RenderError {
    pub message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RenderError {}

impl RenderError {
    fn io(path: &Path, e: io::Error) -> Self {
        RenderError {
            message: format!("cannot write {}: {e}", path.display()),
        }
    }
}

/// Writes `bytes` to `path` atomically ([`crate::files::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    crate::files::write_atomic(path, bytes).map_err(|e| RenderError::io(path, e))
}

/// A format-1 Standard MIDI File: track 0 tempo and time signature, track 1
/// the chords (a text event with the symbol and the voicing's notes), track
/// 2 the solo, then the call it answered when there was one, then the band's
/// parts (bass, comping, drums), a track each.
pub fn midi_file_bytes(t: &Timeline) -> Vec<u8> {
    let end_tick = t.sample_to_tick(t.length_samples);
    let micros_per_quarter = (60_000_000.0 / t.tempo_bpm)
        .round()
        .clamp(1.0, 16_777_215.0) as u32;

    // (absolute tick, order at equal ticks, event): note-offs sort before
    // note-ons at the same tick so a repeated pitch is not cut by its own off.
    let mut conductor: Vec<(u64, u8, TrackEventKind)> = vec![
        (
            0,
            0,
            TrackEventKind::Meta(MetaMessage::TrackName(b"jazz-synth")),
        ),
        (
            0,
            1,
            TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros_per_quarter))),
        ),
        (
            0,
            2,
            // Numerator, denominator as a power of two (2 = quarter), MIDI
            // clocks per metronome click, 32nds per quarter.
            TrackEventKind::Meta(MetaMessage::TimeSignature(
                t.time_sig.0.clamp(1, 255) as u8,
                t.time_sig.1.max(1).ilog2() as u8,
                // MIDI clocks per click: a quarter note is 24.
                (96 / t.time_sig.1.max(1)).clamp(1, 255) as u8,
                8,
            )),
        ),
    ];

    let beat_to_tick = |b: f64| (b * f64::from(TICKS_PER_QUARTER)).round() as u64;
    let mut chords: Vec<(u64, u8, TrackEventKind)> = vec![(
        0,
        0,
        TrackEventKind::Meta(MetaMessage::TrackName(b"Chords")),
    )];
    let chord_ch = u4::new(t.chord_channel & 0x0F);
    for span in &t.chords {
        let on = beat_to_tick(span.start_beat);
        let off = beat_to_tick(span.end_beat).min(end_tick).max(on + 1);
        chords.push((
            on,
            1,
            TrackEventKind::Meta(MetaMessage::Text(span.symbol.as_bytes())),
        ));
        for &n in &span.voicing {
            chords.push((
                on,
                2,
                TrackEventKind::Midi {
                    channel: chord_ch,
                    message: MidiMessage::NoteOn {
                        key: u7::new(n & 0x7F),
                        vel: u7::new(64),
                    },
                },
            ));
            chords.push((
                off,
                0,
                TrackEventKind::Midi {
                    channel: chord_ch,
                    message: MidiMessage::NoteOff {
                        key: u7::new(n & 0x7F),
                        vel: u7::new(0),
                    },
                },
            ));
        }
    }

    let mut solo = note_track(t, b"Solo", &t.solo);
    let mut call = note_track(t, b"Call", &t.call);

    let mut tracks: Vec<Vec<TrackEvent>> = [
        conductor.as_mut_slice(),
        chords.as_mut_slice(),
        solo.as_mut_slice(),
    ]
    .into_iter()
    .map(|events| to_track(events, end_tick))
    .collect();
    if !t.call.is_empty() {
        tracks.push(to_track(&mut call, end_tick));
    }
    for part in &t.band {
        let mut events = note_track(t, part.part.name().as_bytes(), &part.notes);
        tracks.push(to_track(&mut events, end_tick));
    }
    let smf = Smf {
        header: Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(TICKS_PER_QUARTER)),
        ),
        tracks,
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes
}

/// The events of a track of notes named `name`: note-offs before note-ons at one tick.
fn note_track<'a>(
    t: &Timeline,
    name: &'a [u8],
    notes: &[RenderedNote],
) -> Vec<(u64, u8, TrackEventKind<'a>)> {
    let mut events = vec![(0, 0, TrackEventKind::Meta(MetaMessage::TrackName(name)))];
    for n in notes {
        let ch = u4::new(n.channel & 0x0F);
        let on = t.sample_to_tick(n.start);
        let off = t.sample_to_tick(n.end).max(on + 1);
        events.push((
            on,
            2,
            TrackEventKind::Midi {
                channel: ch,
                message: MidiMessage::NoteOn {
                    key: u7::new(n.note & 0x7F),
                    vel: u7::new(n.velocity.clamp(1, 127)),
                },
            },
        ));
        events.push((
            off,
            1,
            TrackEventKind::Midi {
                channel: ch,
                message: MidiMessage::NoteOff {
                    key: u7::new(n.note & 0x7F),
                    vel: u7::new(0),
                },
            },
        ));
    }
    events
}

fn to_track<'a>(
    events: &mut [(u64, u8, TrackEventKind<'a>)],
    end_tick: u64,
) -> Vec<TrackEvent<'a>> {
    events.sort_by_key(|&(tick, order, _)| (tick, order));
    let mut track = Vec::with_capacity(events.len() + 1);
    let mut now = 0u64;
    for &(tick, _, kind) in events.iter() {
        track.push(TrackEvent {
            delta: delta(tick - now),
            kind,
        });
        now = tick;
    }
    track.push(TrackEvent {
        delta: delta(end_tick.saturating_sub(now)),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    track
}

fn delta(ticks: u64) -> u28 {
    u28::new(ticks.min(u64::from(u28::max_value().as_int())) as u32)
}

/// Writes the timeline as a Standard MIDI File, atomically.
pub fn write_midi(t: &Timeline, path: &Path) -> Result<(), RenderError> {
    write_atomic(path, &midi_file_bytes(t))
}

/// Gain of the summed voices: a full-velocity solo note (≤ 1) over a chord
/// of up to five tones at velocity 40 (≤ 0.32 each) stays below full scale.
const MIX_GAIN: f32 = 0.35;
/// Gain with the band: the solo, a four-note comping voicing, the bass and the drums.
const BAND_MIX_GAIN: f32 = 0.25;

/// Renders the timeline to 16-bit mono PCM samples through the plugin's
/// preview voice: the solo through one voice, the chords softer through one
/// voice per chord tone; the band's bass and comping through voices of their
/// own and its drums through [`DrumKit`].
pub fn render_audio(t: &Timeline) -> Vec<i16> {
    let sr = t.sample_rate as f32;
    let spb = t.samples_per_beat();
    // Event list: (sample, is_on, voice slot, note, velocity). Slot 0 is the
    // solo; chord tones use slots 1.. by their index in the voicing.
    let mut events: Vec<(u64, bool, usize, u8, u8)> = Vec::new();
    for n in &t.solo {
        events.push((n.end, false, 0, n.note, 0));
        events.push((n.start, true, 0, n.note, n.velocity));
    }
    let mut slots = 1;
    for span in &t.chords {
        let on = (span.start_beat * spb).round() as u64;
        let off = (span.end_beat * spb).round() as u64;
        for (i, &n) in span.voicing.iter().enumerate() {
            events.push((off, false, 1 + i, n, 0));
            events.push((on, true, 1 + i, n, 40));
        }
        slots = slots.max(1 + span.voicing.len());
    }
    // The band's pitched parts: a voice per note sounding at once, allotted in time order.
    let mut drum_hits: Vec<(u64, u8, u8)> = Vec::new();
    for part in &t.band {
        if part.part == Part::Drums || part.channel == DRUM_CHANNEL {
            drum_hits.extend(part.notes.iter().map(|n| (n.start, n.note, n.velocity)));
            continue;
        }
        // Quieter than the solo: the bass a little, the comping more.
        let scale = if part.part == Part::Bass { 0.8 } else { 0.55 };
        let mut free_at: Vec<u64> = Vec::new();
        for n in &part.notes {
            let voice = match free_at.iter().position(|&end| end <= n.start) {
                Some(v) => v,
                None => {
                    free_at.push(0);
                    free_at.len() - 1
                }
            };
            free_at[voice] = n.end;
            let slot = slots + voice;
            let velocity = (f32::from(n.velocity) * scale).round().clamp(1.0, 127.0) as u8;
            events.push((n.end, false, slot, n.note, 0));
            events.push((n.start, true, slot, n.note, velocity));
        }
        slots += free_at.len();
    }
    drum_hits.sort_unstable();
    // Offs before ons at the same sample.
    events.sort_by_key(|&(s, on, _, _, _)| (s, on));
    // A release tail after the last note.
    let tail = (0.5 * t.sample_rate) as u64;
    let total = t.length_samples + tail;
    let mut voices = vec![PreviewVoice::new(sr); slots];
    let mut kit = DrumKit::new(sr);
    let gain = if t.band.is_empty() {
        MIX_GAIN
    } else {
        BAND_MIX_GAIN
    };
    let mut out = Vec::with_capacity(total as usize);
    let mut next = 0;
    let mut next_hit = 0;
    for s in 0..total {
        while let Some(&(_, note, velocity)) = drum_hits.get(next_hit).filter(|h| h.0 <= s) {
            kit.hit(note, velocity);
            next_hit += 1;
        }
        while next < events.len() && events[next].0 <= s {
            let (_, on, slot, note, vel) = events[next];
            if on {
                voices[slot].note_on(note, vel);
            } else {
                voices[slot].note_off(note);
            }
            next += 1;
        }
        let mix: f32 = voices
            .iter_mut()
            .map(PreviewVoice::next_sample)
            .sum::<f32>()
            + kit.next_sample();
        // Headroom for the solo at full velocity over a four-note chord (and the band).
        out.push(((mix * gain).clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16);
    }
    out
}

/// The drums of a rendered WAV: a ride and a hi-hat of filtered noise, a thumping bass drum and
/// a snare of noise over a tone, all from a fixed noise sequence so a render is always the same.
pub struct DrumKit {
    sample_rate: f32,
    noise: u32,
    /// Per sound: level and its fall per sample.
    ride: (f32, f32),
    hat: (f32, f32),
    kick: (f32, f32),
    snare: (f32, f32),
    kick_phase: f32,
    snare_phase: f32,
    /// One-pole high-pass state for the cymbals' noise.
    last_noise: f32,
    high: f32,
}

impl DrumKit {
    pub fn new(sample_rate: f32) -> DrumKit {
        DrumKit {
            sample_rate: sample_rate.max(1.0),
            noise: 0x1234_5678,
            ride: (0.0, 0.0),
            hat: (0.0, 0.0),
            kick: (0.0, 0.0),
            snare: (0.0, 0.0),
            kick_phase: 0.0,
            snare_phase: 0.0,
            last_noise: 0.0,
            high: 0.0,
        }
    }

    /// Strikes the General MIDI drum `note` at `velocity` (ride 51 and its kin, hi-hats 42/44/46,
    /// bass drums 35/36, snares 38/40; anything else sounds as the ride).
    pub fn hit(&mut self, note: u8, velocity: u8) {
        let level = f32::from(velocity.min(127)) / 127.0;
        // Fall per sample for a decay time constant in seconds.
        let fall = |seconds: f32| (-1.0 / (seconds * self.sample_rate)).exp();
        match note {
            42 | 44 | 46 => self.hat = (0.5 * level, fall(0.03)),
            35 | 36 => {
                self.kick = (0.9 * level, fall(0.12));
                self.kick_phase = 0.0;
            }
            38 | 40 => {
                self.snare = (0.5 * level, fall(0.08));
                self.snare_phase = 0.0;
            }
            _ => self.ride = (0.25 * level, fall(0.35)),
        }
    }

    /// The next sample of the kit (about -1 to 1).
    pub fn next_sample(&mut self) -> f32 {
        // xorshift32: white noise without a random source.
        self.noise ^= self.noise << 13;
        self.noise ^= self.noise >> 17;
        self.noise ^= self.noise << 5;
        let white = (self.noise as f32 / u32::MAX as f32) * 2.0 - 1.0;
        self.high = 0.7 * (self.high + white - self.last_noise);
        self.last_noise = white;
        let sr = self.sample_rate;
        let kick_hz = 55.0 + 60.0 * self.kick.0;
        self.kick_phase = (self.kick_phase + kick_hz / sr).fract();
        self.snare_phase = (self.snare_phase + 190.0 / sr).fract();
        let tau = std::f32::consts::TAU;
        let out = (self.ride.0 + self.hat.0) * self.high
            + self.kick.0 * (tau * self.kick_phase).sin()
            + self.snare.0 * (0.7 * white + 0.3 * (tau * self.snare_phase).sin());
        for (level, fall) in [
            &mut self.ride,
            &mut self.hat,
            &mut self.kick,
            &mut self.snare,
        ] {
            *level *= *fall;
        }
        out
    }
}

/// Writes the timeline's audio as a 16-bit mono WAV file, atomically.
pub fn write_wav(t: &Timeline, path: &Path) -> Result<(), RenderError> {
    let samples = render_audio(t);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: t.sample_rate.round() as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = io::Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
    {
        let mut w = hound::WavWriter::new(&mut cursor, spec).map_err(|e| RenderError {
            message: format!("cannot write {}: {e}", path.display()),
        })?;
        for s in samples {
            w.write_sample(s).map_err(|e| RenderError {
                message: format!("cannot write {}: {e}", path.display()),
            })?;
        }
        w.finalize().map_err(|e| RenderError {
            message: format!("cannot write {}: {e}", path.display()),
        })?;
    }
    write_atomic(path, cursor.get_ref())
}

/// Sample rate of rendered files, Hz.
pub const RENDER_SAMPLE_RATE: f64 = 48_000.0;
/// Engine block length for rendering, samples. Any size gives the same
/// solo; this one is a common host buffer.
pub const RENDER_BLOCK: u32 = 512;

/// A generated value with its absolute sample in the render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeneratedAt {
    /// Samples from the start of the render.
    pub sample: u64,
    /// Quarter notes from the start of the render, on the straight grid (before swing).
    pub position_beats: f64,
    pub generated: Generated,
}

/// Runs the engine of `setup` on a simulated transport: playing from beat 0
/// at the setup's tempo for `bars` bars, `block` samples at a time. Every
/// note sounding at the end is ended at the last sample.
pub fn render_timeline(
    setup: &Setup,
    bars: u32,
    sample_rate: f64,
    block: u32,
) -> (Timeline, Vec<GeneratedAt>) {
    render_answering(setup, bars, sample_rate, block, &[])
}

/// A note of the player's call: start and end in quarter notes from the start of the render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallNote {
    pub start_beat: f64,
    pub end_beat: f64,
    pub key: u8,
    pub velocity: u8,
}

/// The call of a recorded phrase (`render --call FILE.mid`), laid out for trading
/// `turn_bars`-bar turns in bars of `beats_per_bar` quarter notes: the file's melody (the track
/// the trainer would take) is cut into phrases of `turn_bars` bars, and phrase `k` is played in
/// the player's `k`-th turn, so jazz-synth answers each in the turn after it. A note running past
/// its phrase is cut there. Returns the notes and the bars the render needs (two turns per
/// phrase). The error names the file and says what is wrong.
pub fn read_call(
    path: &Path,
    turn_bars: u32,
    beats_per_bar: u32,
) -> Result<(Vec<CallNote>, u32), String> {
    let song = read_midi(path).map_err(|e| e.to_string())?;
    let track = choose_melody_track(&song, &AutoOptions::default()).map_err(|e| e.to_string())?;
    let tpq = f64::from(song.ticks_per_quarter);
    let turn = f64::from(turn_bars.max(1) * beats_per_bar.max(1));
    let mut notes = Vec::new();
    let mut phrases = 0u32;
    let Some(track) = song.tracks.iter().find(|t| t.index == track) else {
        return Err(format!("{}: has no melody track", path.display()));
    };
    for n in track.pitched_notes() {
        let (start, end) = (n.start as f64 / tpq, n.end as f64 / tpq);
        let phrase = (start / turn).floor();
        if !(0.0..1e4).contains(&phrase) {
            continue;
        }
        let offset = phrase * turn;
        let played = start + offset;
        notes.push(CallNote {
            start_beat: played,
            end_beat: (end + offset).min((2.0 * phrase + 1.0) * turn).max(played),
            key: n.key,
            velocity: n.velocity,
        });
        phrases = phrases.max(phrase as u32 + 1);
    }
    if notes.is_empty() {
        return Err(format!(
            "{}: has no notes to answer in its melody track",
            path.display()
        ));
    }
    Ok((notes, phrases * 2 * turn_bars.max(1)))
}

/// [`render_timeline`] with the player's `call` played into the engine's input (as from
/// `--call-in`): in Trade mode jazz-synth hears it in the player's turns and answers in its own.
pub fn render_answering(
    setup: &Setup,
    bars: u32,
    sample_rate: f64,
    block: u32,
    call: &[CallNote],
) -> (Timeline, Vec<GeneratedAt>) {
    let block = block.max(1);
    let mut engine = setup.engine(sample_rate);
    let spb = samples_per_beat(sample_rate, setup.tempo_bpm);
    let total_beats = f64::from(bars) * f64::from(setup.beats_per_bar());
    // The last beat's sample is excluded: rounding up would let the beat
    // after the end sound for one sample.
    let length = end_sample(total_beats, spb);
    let mut out = Output::with_capacity(256);
    let mut solo = SoloCollector::default();
    let mut band = setup.band_player(sample_rate);
    let mut band_out = Output::with_capacity(256);
    let mut band_notes = BandCollector::default();
    let mut generated = Vec::new();
    // The call as input events at absolute samples, releases first at one sample.
    let mut input: Vec<(u64, MidiIn)> = Vec::with_capacity(call.len() * 2);
    for c in call {
        let on = (c.start_beat * spb).round().max(0.0) as u64;
        let off = ((c.end_beat * spb).round() as u64).max(on + 1);
        let (channel, note) = (CALL_PORT_CHANNEL, c.key & 0x7F);
        let velocity = c.velocity.clamp(1, 127);
        input.push((
            on,
            MidiIn::NoteOn {
                sample: 0,
                channel,
                note,
                velocity,
            },
        ));
        input.push((
            off,
            MidiIn::NoteOff {
                sample: 0,
                channel,
                note,
            },
        ));
    }
    input.sort_by_key(|(at, m)| (*at, matches!(m, MidiIn::NoteOn { .. })));
    let mut next_input = 0;
    let mut midi: Vec<MidiIn> = Vec::new();
    let mut s = 0u64;
    while s < length {
        let n = block.min((length - s) as u32);
        midi.clear();
        while let Some(&(at, m)) = input
            .get(next_input)
            .filter(|(at, _)| *at < s + u64::from(n))
        {
            let sample = (at.max(s) - s) as u32;
            midi.push(match m {
                MidiIn::NoteOn {
                    channel,
                    note,
                    velocity,
                    ..
                } => MidiIn::NoteOn {
                    sample,
                    channel,
                    note,
                    velocity,
                },
                MidiIn::NoteOff { channel, note, .. } => MidiIn::NoteOff {
                    sample,
                    channel,
                    note,
                },
            });
            next_input += 1;
        }
        let transport = Transport {
            playing: true,
            tempo_bpm: setup.tempo_bpm,
            position_beats: Some(s as f64 / spb),
            time_sig: setup.time_sig,
            bar: None,
        };
        out.clear();
        engine.process(&transport, n, &midi, &mut out);
        solo.add(&out, s);
        if let Some(band) = &mut band {
            band_out.clear();
            band.process(&transport, n, &mut band_out);
            band_notes.add(&band_out, s);
        }
        generated.extend(out.generated.iter().map(|g| {
            let sample = s + u64::from(g.sample);
            GeneratedAt {
                sample,
                // Its place on the grid: a swung off-beat still prints as the eighth it is.
                position_beats: g.tick as f64 / TICKS_PER_BEAT as f64,
                generated: *g,
            }
        }));
        s += u64::from(n);
    }
    out.clear();
    engine.all_notes_off(0, &mut out);
    solo.add(&out, length);
    let solo = solo.finish(length);
    let band = match &mut band {
        Some(player) => {
            band_out.clear();
            player.all_notes_off(0, &mut band_out);
            band_notes.add(&band_out, length);
            let channels = player.band().channels();
            Part::ALL
                .iter()
                .map(|&part| {
                    let channel = channels.of(part);
                    BandTrack {
                        part,
                        channel,
                        notes: band_notes.take(channel),
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };

    let solo_channel = setup.settings.channel;
    let chord_channel = if solo_channel == 1 { 0 } else { 1 };
    let call_channel = (0..16)
        .find(|c| *c != solo_channel && *c != chord_channel)
        .unwrap_or(2);
    let call = call
        .iter()
        .filter_map(|c| {
            let start = (c.start_beat * spb).round().max(0.0) as u64;
            let end = ((c.end_beat * spb).round() as u64).min(length);
            (start < end).then_some(RenderedNote {
                start,
                end,
                note: c.key & 0x7F,
                velocity: c.velocity.clamp(1, 127),
                channel: call_channel,
            })
        })
        .collect();
    let timeline = Timeline {
        sample_rate,
        tempo_bpm: setup.tempo_bpm,
        time_sig: setup.time_sig,
        length_samples: length,
        solo,
        call,
        chords: chord_spans(setup, total_beats, band.is_empty()),
        chord_channel,
        band,
    };
    (timeline, generated)
}

/// Pairs the engine's note-ons and note-offs into notes.
#[derive(Default)]
struct SoloCollector {
    notes: Vec<RenderedNote>,
    /// The note sounding: (start sample, channel, note, velocity).
    open: Option<(u64, u8, u8, u8)>,
}

impl SoloCollector {
    fn close(&mut self, at: u64, note: Option<u8>) {
        if let Some((start, channel, n, velocity)) = self.open {
            if note.is_none_or(|x| x == n) {
                self.notes.push(RenderedNote {
                    start,
                    end: at.max(start + 1),
                    note: n,
                    velocity,
                    channel,
                });
                self.open = None;
            }
        }
    }

    fn add(&mut self, out: &Output, block_start: u64) {
        for ev in &out.notes {
            match *ev {
                NoteEvent::Off { sample, note, .. } => {
                    self.close(block_start + u64::from(sample), Some(note))
                }
                NoteEvent::On {
                    sample,
                    channel,
                    note,
                    velocity,
                } => {
                    let at = block_start + u64::from(sample);
                    // Monophonic: an onset ends whatever is still open.
                    self.close(at, None);
                    self.open = Some((at, channel, note, velocity));
                }
            }
        }
    }

    fn finish(mut self, end: u64) -> Vec<RenderedNote> {
        self.close(end, None);
        self.notes
    }
}

/// Pairs the band's note-ons and note-offs into notes, per channel and key.
#[derive(Default)]
struct BandCollector {
    notes: Vec<RenderedNote>,
    /// Start sample and velocity of the note sounding on (channel, key).
    open: std::collections::BTreeMap<(u8, u8), (u64, u8)>,
}

impl BandCollector {
    fn add(&mut self, out: &Output, block_start: u64) {
        for ev in &out.notes {
            let at = block_start + u64::from(ev.sample());
            match *ev {
                NoteEvent::Off { channel, note, .. } => {
                    if let Some((start, velocity)) = self.open.remove(&(channel, note)) {
                        self.notes.push(RenderedNote {
                            start,
                            end: at.max(start + 1),
                            note,
                            velocity,
                            channel,
                        });
                    }
                }
                NoteEvent::On {
                    channel,
                    note,
                    velocity,
                    ..
                } => {
                    self.open.insert((channel, note), (at, velocity));
                }
            }
        }
    }

    /// The notes of `channel`, in order of onset.
    fn take(&mut self, channel: u8) -> Vec<RenderedNote> {
        let (mut mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.notes)
            .into_iter()
            .partition(|n| n.channel == channel);
        self.notes = rest;
        mine.sort_by_key(|n| (n.start, n.note));
        mine
    }
}

/// The setup's changes laid over `total_beats`, repeating the progression; `voiced`: with the
/// voicings (without, when the band's comping plays the harmony).
fn chord_spans(setup: &Setup, total_beats: f64, voiced: bool) -> Vec<ChordSpan> {
    let pass = setup.progression.len_beats();
    let mut spans = Vec::new();
    if pass <= 0.0 {
        return spans;
    }
    let mut offset = 0.0;
    while offset < total_beats {
        for (start, length, symbol) in setup.progression.chords() {
            let a = offset + start;
            if a >= total_beats {
                break;
            }
            let mut notes = [0u8; 13];
            let k = if voiced {
                symbol.voicing(&mut notes)
            } else {
                0
            };
            // Voiced an octave below the chart's octave-4 voicing, under the solo.
            let voicing = notes[..k].iter().map(|n| n.saturating_sub(12)).collect();
            spans.push(ChordSpan {
                start_beat: a,
                end_beat: (a + length).min(total_beats),
                symbol: symbol.to_string(),
                voicing,
            });
        }
        offset += pass;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn timeline() -> Timeline {
        // 120 BPM at 48 kHz: 24000 samples per beat.
        Timeline {
            sample_rate: 48_000.0,
            tempo_bpm: 120.0,
            time_sig: (4, 4),
            length_samples: 4 * 24_000,
            call: vec![],
            solo: vec![
                RenderedNote {
                    start: 0,
                    end: 12_000,
                    note: 62,
                    velocity: 100,
                    channel: 0,
                },
                RenderedNote {
                    start: 24_000,
                    end: 48_000,
                    note: 62,
                    velocity: 100,
                    channel: 0,
                },
                RenderedNote {
                    start: 48_000,
                    end: 56_000,
                    note: 65,
                    velocity: 90,
                    channel: 0,
                },
            ],
            chords: vec![
                ChordSpan {
                    start_beat: 0.0,
                    end_beat: 2.0,
                    symbol: "Dm7".into(),
                    voicing: vec![50, 53, 57, 60],
                },
                ChordSpan {
                    start_beat: 2.0,
                    end_beat: 4.0,
                    symbol: "G7".into(),
                    voicing: vec![55, 59, 62, 65],
                },
            ],
            chord_channel: 1,
            band: vec![],
        }
    }

    #[test]
    fn midi_file_has_tempo_chords_and_solo_tracks() {
        let bytes = midi_file_bytes(&timeline());
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.header.format, Format::Parallel);
        assert_eq!(smf.tracks.len(), 3);
        assert!(smf.tracks[0]
            .iter()
            .any(|e| matches!(e.kind, TrackEventKind::Meta(MetaMessage::Tempo(t)) if t.as_int() == 500_000)));
        let texts: Vec<&[u8]> = smf.tracks[1]
            .iter()
            .filter_map(|e| match e.kind {
                TrackEventKind::Meta(MetaMessage::Text(t)) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(texts, vec![b"Dm7".as_slice(), b"G7".as_slice()]);
        // Solo: (tick, on?, key), repeated D stays two separate notes.
        let mut tick = 0u32;
        let mut solo = Vec::new();
        for e in &smf.tracks[2] {
            tick += e.delta.as_int();
            match e.kind {
                TrackEventKind::Midi {
                    message: MidiMessage::NoteOn { key, .. },
                    ..
                } => solo.push((tick, true, key.as_int())),
                TrackEventKind::Midi {
                    message: MidiMessage::NoteOff { key, .. },
                    ..
                } => solo.push((tick, false, key.as_int())),
                _ => {}
            }
        }
        assert_eq!(
            solo,
            vec![
                (0, true, 62),
                (240, false, 62),
                (480, true, 62),
                (960, false, 62),
                (960, true, 65),
                (1120, false, 65)
            ]
        );
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("jazz-synth-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("solo.mid");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new contents").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_into_a_missing_directory_names_the_file() {
        let path = Path::new("/nonexistent-dir-jazz-synth/solo.mid");
        let e = write_atomic(path, b"x").unwrap_err();
        assert!(
            e.message.contains("/nonexistent-dir-jazz-synth/solo.mid"),
            "{e}"
        );
    }

    #[test]
    fn audio_sounds_during_notes_and_falls_silent_after() {
        let t = timeline();
        let pcm = render_audio(&t);
        assert_eq!(
            pcm.len() as u64,
            t.length_samples + (0.5 * t.sample_rate) as u64
        );
        let peak = |a: usize, b: usize| pcm[a..b].iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak(1_000, 10_000) > 1_000);
        assert!(peak(0, pcm.len()) < i16::MAX as u16, "the mix never clips");
        // The last chord and note have ended; after the release tail, silence.
        assert!(peak(pcm.len() - 100, pcm.len()) < 50);
    }
}
