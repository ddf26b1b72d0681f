//! Collections of generated solos for the tests that train end to end: the solos written into a
//! scratch folder, read back as `--preset jazz` reads them, and `jazz-train` (or `jazz-synth`)
//! run on them, its success or refusal checked with what it printed.
#![allow(dead_code)] // Each test binary that trains uses part of it; the others use none.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use jazz_synth::model::lstm::Model;
use jazz_synth::train::corpus::{self, AutoOptions, Solo};
use jazz_synth::train::jazz::{self, Encoded, JazzVocab};
use jazz_synth::train::TrainConfig;

use super::midi_file::{format1, notes};
use super::temp_dir;

/// The trainer, as cargo built it for this test run.
pub const TRAIN: &str = env!("CARGO_BIN_EXE_jazz-train");
/// The player, as cargo built it for this test run.
pub const SYNTH: &str = env!("CARGO_BIN_EXE_jazz-synth");

/// A note: (start, length) in beats and the MIDI note.
pub type Note = (f64, f64, u8);

/// A format-1 file at 480 ticks a beat: `melody` on a track named "Solo", the chords' tones on
/// one named "Chords" (the tracks `--preset jazz` finds).
pub fn solo_over_chords(melody: &[Note], chords: &[Note]) -> Vec<u8> {
    format1(
        480,
        &[("Solo", notes(480, melody)), ("Chords", notes(480, chords))],
    )
}

/// A file with `melody` alone (no chords: the readers of `--preset jazz` skip it).
pub fn solo_without_chords(melody: &[Note]) -> Vec<u8> {
    format1(480, &[("Solo", notes(480, melody))])
}

/// Solos written into a folder of their own.
pub struct Collection {
    /// The scratch folder holding `solos`, for the test's other files (weights, tables).
    pub dir: PathBuf,
    /// The folder of solos, as given to `jazz-train`.
    pub solos: PathBuf,
    /// Each solo's file, in the order written.
    pub files: Vec<PathBuf>,
}

/// Writes `count` solos into `solos/` in a fresh scratch folder tagged `tag`; `solo(k)` gives
/// the `k`th file's name and bytes.
pub fn write_collection(
    tag: &str,
    count: usize,
    mut solo: impl FnMut(usize) -> (String, Vec<u8>),
) -> Collection {
    let dir = temp_dir(tag);
    let solos = dir.join("solos");
    fs::create_dir_all(&solos).expect("a folder for the solos");
    let files = (0..count)
        .map(|k| {
            let (name, bytes) = solo(k);
            let path = solos.join(name);
            fs::write(&path, bytes).expect("a solo written");
            path
        })
        .collect();
    Collection { dir, solos, files }
}

/// The solos of `files` as `--preset jazz` reads them; every one must have chords.
pub fn read_solos(files: &[PathBuf]) -> Vec<Solo> {
    files
        .iter()
        .map(|p| corpus::load_solo(p, &AutoOptions::default()).expect("a solo with chords"))
        .collect()
}

/// A model trained in process on `train`, keeping the epoch with the lowest held-out loss on
/// `valid` (none held out when it is empty), with the chord inputs when `conditioned`; no
/// early stop, nothing printed.
pub fn train_quietly(
    train: &Encoded,
    valid: &Encoded,
    vocab: &JazzVocab,
    config: &TrainConfig,
    conditioned: bool,
) -> Model {
    jazz::train_jazz(
        train,
        valid,
        vocab,
        config,
        conditioned,
        Default::default(),
        |_, _| {},
    )
    .expect("training runs")
    .model
}

/// Runs `command`, checks that it succeeded (else fails with what it printed) and returns its
/// standard output.
pub fn succeeds(command: &mut Command) -> String {
    let out = command.output().expect("the command starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `command`, checks that it was refused (else fails with what it printed) and returns its
/// standard error, where the reason is.
pub fn fails(command: &mut Command) -> String {
    let out = command.output().expect("the command starts");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{command:?} was accepted:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}
