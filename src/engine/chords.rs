//! Where the chords come from: the progression (built-in or custom, transposed, laid over the
//! host's bars) or the notes held on the MIDI input.

use super::*;

/// Input notes pressed within this many seconds of each other belong to one chord.
pub(super) const CHORD_GROUP_SECONDS: f64 = 0.1;

impl Engine {
    /// A custom progression (the standalone's `--chords`), or None to go back
    /// to the built-in one chosen by `Settings::progression`. Not for the
    /// audio thread (the old progression is dropped here).
    pub fn set_progression(&mut self, progression: Option<Progression>) {
        self.custom = progression;
    }

    /// Typed changes (or None: back to the built-in progression) to start at the next bar line
    /// the engine plays (at once while stopped). Never allocates or frees: call
    /// [`Engine::take_retired_changes`] afterwards to get the changes replaced off the audio
    /// thread. Changes queued before earlier ones started replace them; the ones replaced come
    /// back the same way.
    pub fn queue_progression(&mut self, progression: Option<Progression>) {
        if let Some((earlier, _)) = self.queued_changes.take() {
            self.retire_changes(earlier);
        }
        self.queued_changes = Some((progression, None));
        if !self.running {
            self.install_changes();
        }
    }

    /// Changes replaced by [`Engine::queue_progression`], to be dropped off the audio thread.
    pub fn take_retired_changes(&mut self) -> Option<Option<Progression>> {
        self.retired_changes.take()
    }

    /// Whether changes are queued and not yet playing.
    pub fn changes_pending(&self) -> bool {
        self.queued_changes.is_some()
    }

    pub(super) fn install_changes(&mut self) {
        if let Some((new, _)) = self.queued_changes.take() {
            let old = std::mem::replace(&mut self.custom, new);
            self.retire_changes(old);
        }
    }

    fn retire_changes(&mut self, old: Option<Progression>) {
        match &mut self.retired_changes {
            // The previous retiree was never taken: keep the newest (the older one is dropped
            // here, which only happens when the front end never takes them).
            Some(slot) => *slot = old,
            None => self.retired_changes = Some(old),
        }
    }

    /// The progression the chords currently come from (before transposition).
    pub fn progression(&self) -> &Progression {
        match &self.custom {
            Some(p) => p,
            None => {
                let i = self.settings.progression.min(self.builtins.len() - 1);
                &self.builtins[i]
            }
        }
    }

    /// The chord recognised from MIDI input, if one was played.
    pub fn midi_chord(&self) -> Option<Chord> {
        self.midi_chord
    }

    /// The chord a value generated at host position `beat` (quarter notes)
    /// would be decoded against, the progression's bars laid over the host's
    /// bars (see [`Transport::time_sig`]) as of the last block processed.
    pub fn chord_at(&self, beat: f64) -> Chord {
        match (self.settings.chord_source, self.midi_chord) {
            (ChordSource::MidiInput, Some(chord)) => chord,
            _ => {
                let progression = self.progression();
                let chart_bar = f64::from(progression.beats_per_bar());
                transpose(
                    progression.chord_at(self.meter.chart_position(beat, chart_bar)),
                    self.settings.transpose as i32,
                )
            }
        }
    }

    /// One input note, at host position `position` (quarter notes; None while stopped): to
    /// the listener if it is part of the call, to the chord reader if it is a chord note.
    pub(super) fn apply_midi(&mut self, m: &MidiIn, position: Option<f64>) {
        let (note, on) = match *m {
            MidiIn::NoteOn { note, velocity, .. } => (note, velocity > 0),
            MidiIn::NoteOff { note, .. } => (note, false),
        };
        if note > 127 {
            return;
        }
        let call = self.listening() && self.settings.call_input.takes(m.channel(), note);
        if call {
            if let Some(position) = position {
                self.hear_note(position, note, on);
            }
            if self.settings.call_input.separates() {
                return;
            }
        }
        if m.channel() == CALL_PORT_CHANNEL {
            // The call port never carries chords.
            return;
        }
        let (word, bit) = ((note / 64) as usize, note % 64);
        if on {
            let at = self.input_clock + m.sample() as u64;
            let window = (CHORD_GROUP_SECONDS * self.sample_rate) as u64;
            if self.last_was_release || at.saturating_sub(self.last_press_at) > window {
                self.recent = [0; 2];
            }
            self.last_press_at = at;
            self.held[word] |= 1 << bit;
            self.recent[word] |= 1 << bit;
        } else {
            self.held[word] &= !(1 << bit);
        }
        self.last_was_release = !on;
        // A chord is three or more pitch classes. A press sets the chord to
        // what is held. A release changes it only while every note of the
        // latest chord pressed (notes pressed together, with no release in
        // between) is still held: that is a legato change letting go of the
        // old chord, whereas letting go of the chord just played (one finger
        // after the other) keeps it.
        let recent_held = (0..2).all(|w| self.recent[w] & !self.held[w] == 0);
        if !on && !recent_held {
            return;
        }
        let mut notes = [0u8; 128];
        let mut count = 0;
        let mut pcs = 0u16;
        for n in 0..128u8 {
            if self.held[(n / 64) as usize] & (1 << (n % 64)) != 0 {
                notes[count] = n;
                count += 1;
                pcs |= 1 << (n % 12);
            }
        }
        if pcs.count_ones() >= 3 {
            self.midi_chord = Some(Chord::from_midi(&notes[..count]));
        }
    }
}

/// `chord` moved up by `semitones` (any sign).
pub fn transpose(chord: Chord, semitones: i32) -> Chord {
    if semitones == 0 || chord.is_empty() {
        return chord;
    }
    Chord {
        pcs: chord.pcs.transpose(semitones),
        root: (chord.root as i32 + semitones).rem_euclid(12) as u8,
        quality: chord.quality,
    }
}
