//! music21 3.x–5.x's view of a MIDI track: its quantization and how it makes a part (notes,
//! chords, voices) of a track, as the original read its training file.

use super::*;

pub(super) use crate::music::listen::quantize;

pub(super) fn ticks(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX / 16)
}

// ---------------------------------------------------------------------------------------------
// music21 3.x–5.x: a MIDI track as a part

/// A note or chord of a part as music21 built it; times in twelfths of a quarter note.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PartElement {
    pub(super) offset: i64,
    pub(super) duration: i64,
    /// MIDI note numbers in music21's order (gathering order for chords).
    pub(super) pitches: Vec<u8>,
    pub(super) is_chord: bool,
}

/// Notes music21 3.x pairs: each note-on ends at the very next event of its key and channel.
/// Returns (on tick, off tick, key) in note-on order.
pub(super) fn music21_pairs(track: &MidiTrack) -> Vec<(i64, i64, u8)> {
    let events = &track.key_events;
    let mut next_same = vec![usize::MAX; events.len()];
    let mut last_seen = vec![usize::MAX; 16 * 128];
    for (i, e) in events.iter().enumerate().rev() {
        let slot = usize::from(e.channel) * 128 + usize::from(e.key);
        next_same[i] = last_seen[slot];
        last_seen[slot] = i;
    }
    let mut taken = vec![false; events.len()];
    let mut pairs = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if taken[i] || !e.starts {
            continue;
        }
        // music21 drops a note-on that is never matched; ending it at the end of the track
        // instead keeps it, and the original file has none.
        let off = match next_same[i] {
            usize::MAX => track.end,
            j => {
                taken[j] = true;
                events[j].tick
            }
        };
        pairs.push((ticks(e.tick), ticks(off), e.key));
    }
    pairs
}

/// Longest run of onset-mates examined for one chord; only absurd files reach it, and there
/// music21's exact behaviour is no longer worth quadratic time.
pub(super) const MAX_CHORD_SCAN: usize = 512;

/// The notes and chords music21 3.1–5.1 make of a MIDI track, sorted the way its flattened
/// part lists them: by offset, then voice, then creation order.
pub(super) fn music21_part(track: &MidiTrack, ticks_per_quarter: u16) -> Vec<PartElement> {
    let tpq = i64::from(ticks_per_quarter);
    let notes = music21_pairs(track);
    let within_tolerance = |a: i64, b: i64| 16 * (a - b).abs() <= tpq;

    // Chord gathering, as midiTrackToStream does it (onset-mates already gathered into an
    // earlier chord can be gathered again; music21 does not check).
    let mut gathered = vec![false; notes.len()];
    let mut voices_required = false;
    let mut raw: Vec<(i64, i64, Vec<u8>, bool)> = Vec::with_capacity(notes.len());
    for i in 0..notes.len() {
        if gathered[i] {
            continue;
        }
        let (on, off, key) = notes[i];
        let mut chord: Vec<usize> = Vec::new();
        for (j, &(on_j, off_j, _)) in notes.iter().enumerate().skip(i + 1).take(MAX_CHORD_SCAN) {
            if !within_tolerance(on_j, on) {
                break;
            }
            if !within_tolerance(off_j, off) {
                voices_required = true;
                continue;
            }
            if chord.is_empty() {
                chord.push(i);
                gathered[i] = true;
            }
            chord.push(j);
            gathered[j] = true;
        }
        let (duration, pitches, is_chord) = if chord.is_empty() {
            (off - on, vec![key], false)
        } else {
            // music21 takes the first note's end and the last gathered note's start.
            let last_on = notes[*chord.last().unwrap_or(&i)].0;
            let pitches = chord.iter().map(|&k| notes[k].2).collect();
            (off - last_on, pitches, true)
        };
        // A zero-tick note or chord gets one quarter note before quantization.
        let duration = if duration == 0 { tpq } else { duration };
        raw.push((on, duration, pitches, is_chord));
    }

    let mut elements: Vec<(PartElement, usize)> = raw
        .into_iter()
        .map(|(on, duration, pitches, is_chord)| {
            let element = PartElement {
                offset: quantize(on, tpq),
                duration: quantize(duration, tpq),
                pitches,
                is_chord,
            };
            (element, 0)
        })
        .collect();
    // Creation order breaks offset ties; the sort is stable.
    elements.sort_by_key(|(e, _)| e.offset);

    if voices_required {
        // makeVoices: each element goes to the first voice that has ended by its offset.
        let mut free: BTreeSet<usize> = BTreeSet::new();
        let mut busy: BinaryHeap<std::cmp::Reverse<(i64, usize)>> = BinaryHeap::new();
        let mut voice_count = 0;
        for (e, voice) in elements.iter_mut() {
            while let Some(std::cmp::Reverse((end, v))) = busy.peek().copied() {
                if end > e.offset {
                    break;
                }
                busy.pop();
                free.insert(v);
            }
            *voice = match free.pop_first() {
                Some(v) => v,
                None => {
                    voice_count += 1;
                    voice_count - 1
                }
            };
            busy.push(std::cmp::Reverse((e.offset + e.duration, *voice)));
        }
        elements.sort_by_key(|(e, voice)| (e.offset, *voice));
    }
    elements.into_iter().map(|(e, _)| e).collect()
}
