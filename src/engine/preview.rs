//! The preview voice: a small monophonic synth on the plugin's audio output, so a host that
//! only routes instruments (or a musician who has not routed the MIDI yet) still hears the solo.
//!
//! A sine with a touch of triangle, a quick attack and a vibraphone-like fall while held, and
//! a short release. Monophonic like the engine: a new note glides the pitch without retriggering
//! a click. Everything is plain `f32` state: no allocation after construction.

use std::f32::consts::TAU;

/// Attack time constant in seconds: fast enough to sound on the beat, slow enough not to click.
const ATTACK_S: f32 = 0.004;
/// Time constant of the fall from the attack peak towards the held level, in seconds.
const DECAY_S: f32 = 0.6;
/// Held level as a fraction of the attack peak.
const SUSTAIN: f32 = 0.45;
/// Release time constant in seconds.
const RELEASE_S: f32 = 0.05;
/// Share of triangle in the waveform; the rest is sine.
const TRIANGLE_MIX: f32 = 0.25;
/// Below this envelope level (-80 dB) the voice counts as silent.
const SILENT: f32 = 1.0e-4;

/// One monophonic voice following note-on/note-off events.
#[derive(Debug, Clone)]
pub struct PreviewVoice {
    sample_rate: f32,
    /// The MIDI note held, if any.
    note: Option<u8>,
    /// Oscillator phase in cycles, `[0, 1)`.
    phase: f32,
    /// Phase increment per sample, cycles.
    phase_step: f32,
    /// Envelope level (linear amplitude).
    level: f32,
    /// Peak level of the held note (velocity as amplitude).
    peak: f32,
    /// Target the envelope moves towards: the peak while attacking, then the held level, 0 when released.
    target: f32,
    attacking: bool,
    attack_coef: f32,
    decay_coef: f32,
    release_coef: f32,
}

/// One-pole smoothing coefficient for a time constant in seconds.
fn coef(seconds: f32, sample_rate: f32) -> f32 {
    1.0 - (-1.0 / (seconds * sample_rate)).exp()
}

/// Frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz).
pub fn note_hz(note: u8) -> f32 {
    440.0 * 2f32.powf((note as f32 - 69.0) / 12.0)
}

impl PreviewVoice {
    /// A silent voice at `sample_rate` Hz.
    pub fn new(sample_rate: f32) -> Self {
        let mut voice = Self {
            sample_rate,
            note: None,
            phase: 0.0,
            phase_step: 0.0,
            level: 0.0,
            peak: 0.0,
            target: 0.0,
            attacking: false,
            attack_coef: 0.0,
            decay_coef: 0.0,
            release_coef: 0.0,
        };
        voice.set_sample_rate(sample_rate);
        voice
    }

    /// Recomputes the envelope coefficients for a new sample rate in Hz.
    pub fn set_sample_rate(&mut self, sample_rate: f32) {
        self.sample_rate = sample_rate.max(1.0);
        self.attack_coef = coef(ATTACK_S, self.sample_rate);
        self.decay_coef = coef(DECAY_S, self.sample_rate);
        self.release_coef = coef(RELEASE_S, self.sample_rate);
        if let Some(note) = self.note {
            self.phase_step = note_hz(note) / self.sample_rate;
        }
    }

    /// Starts `note` (MIDI note number) at `velocity` (1-127), replacing any held note.
    pub fn note_on(&mut self, note: u8, velocity: u8) {
        self.note = Some(note);
        self.phase_step = note_hz(note) / self.sample_rate;
        self.peak = velocity.min(127) as f32 / 127.0;
        self.target = self.peak;
        self.attacking = true;
    }

    /// Releases `note` if it is the one held; a stale note-off for an older note is ignored.
    pub fn note_off(&mut self, note: u8) {
        if self.note == Some(note) {
            self.release();
        }
    }

    /// Releases whatever is held (transport stop, bypass, preview switched off).
    pub fn release(&mut self) {
        self.note = None;
        self.target = 0.0;
        self.attacking = false;
    }

    /// Silences the voice at once (host reset, deactivate).
    pub fn reset(&mut self) {
        self.release();
        self.level = 0.0;
        self.phase = 0.0;
    }

    /// The MIDI note held, if any.
    pub fn note(&self) -> Option<u8> {
        self.note
    }

    /// True when nothing is held and the release has died away.
    pub fn is_silent(&self) -> bool {
        self.note.is_none() && self.level < SILENT
    }

    /// The next output sample (mono, roughly within `[-1, 1]`).
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        if self.is_silent() {
            self.level = 0.0;
            return 0.0;
        }
        let c = if self.note.is_none() {
            self.release_coef
        } else if self.attacking {
            self.attack_coef
        } else {
            self.decay_coef
        };
        self.level += (self.target - self.level) * c;
        if self.attacking && self.level >= 0.95 * self.peak {
            self.attacking = false;
            self.target = self.peak * SUSTAIN;
        }

        let sine = (TAU * self.phase).sin();
        let triangle = 1.0 - 4.0 * (self.phase - 0.5).abs();
        let out = ((1.0 - TRIANGLE_MIX) * sine + TRIANGLE_MIX * triangle) * self.level;

        self.phase += self.phase_step;
        if self.phase >= 1.0 {
            self.phase -= 1.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SR: f32 = 48_000.0;

    fn render(voice: &mut PreviewVoice, n: usize) -> Vec<f32> {
        (0..n).map(|_| voice.next_sample()).collect()
    }

    #[test]
    fn a_fresh_voice_is_silent() {
        let mut voice = PreviewVoice::new(SR);
        assert!(render(&mut voice, 1000).iter().all(|&s| s == 0.0));
        assert!(voice.is_silent());
    }

    #[test]
    fn a_held_note_sounds_at_its_pitch() {
        let mut voice = PreviewVoice::new(SR);
        voice.note_on(69, 127);
        let out = render(&mut voice, SR as usize);
        // Upward zero crossings in one second = frequency in Hz.
        let crossings = out.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        assert!((439..=441).contains(&crossings), "{crossings} Hz");
        let peak = out.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.5 && peak <= 1.0, "peak {peak}");
    }

    #[test]
    fn velocity_scales_the_level() {
        let peak = |velocity| {
            let mut voice = PreviewVoice::new(SR);
            voice.note_on(60, velocity);
            render(&mut voice, 4800)
                .iter()
                .fold(0f32, |m, s| m.max(s.abs()))
        };
        let (loud, soft) = (peak(127), peak(32));
        assert!(soft < 0.3 * loud, "soft {soft}, loud {loud}");
    }

    #[test]
    fn note_off_dies_away_to_silence() {
        let mut voice = PreviewVoice::new(SR);
        voice.note_on(60, 100);
        render(&mut voice, 4800);
        voice.note_off(60);
        render(&mut voice, SR as usize / 2);
        assert!(voice.is_silent());
        assert!(render(&mut voice, 100).iter().all(|&s| s == 0.0));
    }

    #[test]
    fn a_stale_note_off_does_not_cut_the_new_note() {
        let mut voice = PreviewVoice::new(SR);
        voice.note_on(60, 100);
        voice.note_on(62, 100);
        voice.note_off(60);
        assert_eq!(voice.note(), Some(62));
        render(&mut voice, SR as usize / 2);
        assert!(!voice.is_silent());
    }

    #[test]
    fn the_attack_does_not_click() {
        let mut voice = PreviewVoice::new(SR);
        voice.note_on(84, 127);
        let out = render(&mut voice, 2000);
        let max_jump = out.windows(2).fold(0f32, |m, w| m.max((w[1] - w[0]).abs()));
        // A full-scale C6 sine moves at most 2π·1047/48000 ≈ 0.14 per sample.
        assert!(max_jump < 0.15, "jump {max_jump}");
        assert!(out[0].abs() < 0.01);
    }

    #[test]
    fn reset_is_immediate_silence() {
        let mut voice = PreviewVoice::new(SR);
        voice.note_on(60, 100);
        render(&mut voice, 480);
        voice.reset();
        assert!(voice.is_silent());
        assert_eq!(voice.next_sample(), 0.0);
    }
}
