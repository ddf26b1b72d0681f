//! What the editor's panels do, without a window: typed changes start on the next bar line,
//! broken ones are refused with their message while the previous changes keep playing, a bad
//! weights file is refused while the model playing keeps playing, and the typed changes and the
//! chosen weights file round-trip through the saved session. `process()` runs under
//! `assert_no_alloc` throughout. (The window itself is tested in `editor.rs`.)
#![cfg(not(feature = "assert_process_allocs"))]

mod common;

use std::time::{Duration, Instant};

use assert_no_alloc::AllocDisabler;
use common::alt_weights::write_alternative_weights;
use common::plugin_host::*;
use jazz_synth::plugin::editor::{choose_weights, submit_changes};
use jazz_synth::plugin::view::ChangesState;
use jazz_synth::plugin::JazzSynth;
use nice_plug::prelude::*;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const TEMPO: f64 = 120.0;
/// F#: no built-in progression has a chord on it in its first bars.
const F_SHARP: u8 = 6;
const TYPED: &str = "F#7 | F#7 | Bm7 E7 | F#7";

/// One block of `frames` samples at `beat`, playing in 4/4; the beat after it.
fn play_block(plugin: &mut JazzSynth, audio: &mut [Vec<f32>; 2], beat: f64, frames: usize) -> f64 {
    let mut context = Context::new();
    context.transport.playing = true;
    context.transport.tempo = Some(TEMPO);
    context.transport.pos_beats = Some(beat);
    context.transport.time_sig_numerator = Some(4);
    context.transport.time_sig_denominator = Some(4);
    block(plugin, audio, &mut context, frames);
    beat + frames as f64 * TEMPO / 60.0 / f64::from(SR)
}

/// The (beat, chord root) of every value generated in the last block.
fn roots(plugin: &JazzSynth) -> Vec<(i64, u8)> {
    plugin
        .last_output()
        .generated
        .iter()
        .map(|g| (g.beat, g.chord.root))
        .collect()
}

/// Processes blocks of `frames` samples until `done` or 5 s (the worker thread's turn).
fn wait_for(
    plugin: &mut JazzSynth,
    audio: &mut [Vec<f32>; 2],
    (beat, frames): (&mut f64, usize),
    what: &str,
    done: impl Fn(&JazzSynth) -> bool,
) {
    let until = Instant::now() + Duration::from_secs(5);
    while !done(plugin) {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        *beat = play_block(plugin, audio, *beat, frames);
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn typed_changes_start_on_the_next_bar_and_broken_ones_are_refused() {
    let mut plugin = activated();
    let params = plugin.params_handle();
    let panels = plugin.panels();
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    let mut beat = 0.0;
    let mut heard = Vec::new();
    while beat < 1.5 {
        beat = play_block(&mut plugin, &mut audio, beat, 512);
        heard.extend(roots(&plugin));
    }
    submit_changes(&params, TYPED).expect("the typed changes parse");
    wait_for(
        &mut plugin,
        &mut audio,
        (&mut beat, 1),
        "the changes",
        |p| p.engine().is_some_and(|e| e.changes_pending()),
    );
    assert!(beat < 4.0, "queued inside the first bar (beat {beat})");
    while beat < 12.0 {
        beat = play_block(&mut plugin, &mut audio, beat, 512);
        heard.extend(roots(&plugin));
    }
    assert!(heard.iter().any(|&(b, _)| b < 4), "values in the first bar");
    assert!(heard.iter().any(|&(b, _)| b >= 4), "values after it");
    for &(b, root) in &heard {
        if b < 4 {
            assert_ne!(
                root, F_SHARP,
                "bar 1 keeps the changes it began with (beat {b})"
            );
        } else if b < 8 {
            assert_eq!(root, F_SHARP, "bar 2 plays the typed changes (beat {b})");
        }
    }
    assert_eq!(panels.changes(), ChangesState::Playing(TYPED.to_string()));

    // Broken changes are refused here with the parser's message, and nothing else changes.
    let err = submit_changes(&params, "F#7 | H9 | C").unwrap_err();
    assert!(
        err.contains("H9"),
        "the message names the bad symbol: {err}"
    );
    assert_eq!(params.custom_changes.get(), TYPED);
    let before = heard.len();
    while beat < 20.0 {
        beat = play_block(&mut plugin, &mut audio, beat, 512);
        heard.extend(roots(&plugin));
    }
    // Bars 4 and 5 of the typed changes (beats 12-19): F#7, then F#7 again (the form repeats).
    assert!(heard[before..]
        .iter()
        .all(|&(b, r)| !(12..20).contains(&b) || r == F_SHARP));

    // A session with broken changes (typed in another version, or edited by hand): the loader
    // refuses them with the message, the editor shows it, the previous changes keep playing.
    params.custom_changes.request("F#7 | Xq | C");
    wait_for(
        &mut plugin,
        &mut audio,
        (&mut beat, 1),
        "the refusal",
        |_| matches!(panels.changes(), ChangesState::Refused { .. }),
    );
    match panels.changes() {
        ChangesState::Refused { text, error } => {
            assert_eq!(text, "F#7 | Xq | C");
            assert!(error.contains("Xq"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let start = beat.ceil() as i64 + 4;
    while beat < start as f64 + 8.0 {
        beat = play_block(&mut plugin, &mut audio, beat, 512);
        heard.extend(roots(&plugin));
    }
    assert_eq!(
        plugin.engine().unwrap().progression().bars(),
        4,
        "the typed progression is still the one playing"
    );
    assert!(heard
        .iter()
        .all(|&(b, r)| b < start || b >= start + 8 || r != 0));

    // "" goes back to the built-in progression.
    submit_changes(&params, "").unwrap();
    wait_for(
        &mut plugin,
        &mut audio,
        (&mut beat, 1),
        "the built-in",
        |_| panels.changes() == ChangesState::Builtin,
    );
}

#[test]
fn a_bad_weights_file_is_refused_and_the_model_playing_keeps_playing() {
    let plugin = activated();
    let params = plugin.params_handle();
    let dir = std::env::temp_dir().join(format!("jazz-synth-editor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.safetensors");
    std::fs::write(&broken, b"not a weights file").unwrap();
    let err = choose_weights(&params, broken.to_str().unwrap()).unwrap_err();
    assert!(err.contains("keeps playing"), "{err}");
    assert_eq!(params.weights_path.get(), "", "nothing enters the session");
    let missing = dir.join("missing.safetensors");
    assert!(choose_weights(&params, missing.to_str().unwrap()).is_err());
    assert!(choose_weights(&params, "  ").is_err());

    let good = dir.join("alt.safetensors");
    write_alternative_weights(&good);
    choose_weights(&params, good.to_str().unwrap()).expect("a good file is taken");
    assert_eq!(params.weights_path.get(), good.to_str().unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn typed_changes_and_the_weights_file_round_trip_through_the_session() {
    let dir = std::env::temp_dir().join(format!("jazz-synth-editor-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("alt.safetensors");
    write_alternative_weights(&good);

    let mut first = activated();
    let params = first.params_handle();
    let mut audio = [vec![0.0f32; MAX_BLOCK], vec![0.0f32; MAX_BLOCK]];
    submit_changes(&params, TYPED).unwrap();
    choose_weights(&params, good.to_str().unwrap()).unwrap();
    let mut beat = 0.0;
    let swaps = first.model_swaps();
    wait_for(
        &mut first,
        &mut audio,
        (&mut beat, 64),
        "the weights",
        |p| p.model_swaps() > swaps,
    );
    let saved = params.serialize_fields();
    assert!(
        saved
            .values()
            .any(|v| v.contains("F#7 | F#7 | Bm7 E7 | F#7")),
        "{saved:?}"
    );
    drop(first);

    // A new instance given the saved fields plays the same changes and weights, editor closed.
    let mut second = JazzSynth::default();
    second.params_handle().deserialize_fields(&saved);
    activate(&mut second);
    second.reset();
    let params = second.params_handle();
    assert_eq!(params.custom_changes.get(), TYPED);
    assert_eq!(params.weights_path.get(), good.to_str().unwrap());
    let panels = second.panels();
    let mut beat = 0.0;
    wait_for(
        &mut second,
        &mut audio,
        (&mut beat, 64),
        "the restored session",
        |p| p.model_swaps() > 0 && panels.changes() == ChangesState::Playing(TYPED.to_string()),
    );
    assert_eq!(panels.model().name, good.display().to_string());
    // The model swaps on a beat, so the wait plays on; the changes begin at a bar line after
    // it (the next one, or under load the one after). From the bar after that, every value
    // follows the typed form (F#7 | F#7 | Bm7 E7 | F#7) from some bar line on.
    let from = ((beat / 4.0).floor() as i64 + 2) * 4;
    let mut heard = Vec::new();
    while beat < (from + 32) as f64 {
        beat = play_block(&mut second, &mut audio, beat, 512);
        heard.extend(roots(&second));
    }
    let late: Vec<_> = heard.into_iter().filter(|&(b, _)| b >= from).collect();
    assert!(late.len() >= 16, "{late:?}");
    const FORM: [&[u8]; 4] = [&[F_SHARP], &[F_SHARP], &[11, 4], &[F_SHARP]];
    let follows_form = |start: i64| {
        late.iter()
            .all(|&(b, r)| FORM[(b / 4 - start).rem_euclid(4) as usize].contains(&r))
    };
    assert!((0..4).any(follows_form), "{late:?}");
    std::fs::remove_dir_all(&dir).ok();
}
