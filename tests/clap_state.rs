//! Saved state through a real CLAP host (clack-host): garbage and future states, out-of-range
//! values and a weights file that has vanished since the project was saved. The plugin must keep
//! playing, fall back to defaults, and say so in its log (`NICE_LOG`, set before the first
//! instance of this test process loads the plugin).

mod common;

use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

use common::clap_harness::*;
use serde_json::json;

const SR: f64 = 48_000.0;
const TEMPO: f64 = 120.0;
const BEATS: f64 = 16.0;

/// The log file every instance of this process writes to.
fn log_path() -> PathBuf {
    std::env::temp_dir().join(format!("jazz-synth-{}-state.log", std::process::id()))
}

/// Points the plugin's logger at [`log_path`] before any instance exists.
fn with_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = std::fs::remove_file(log_path());
        // SAFETY: set once, before any plugin instance (and its threads) of this process exists.
        unsafe { std::env::set_var("NICE_LOG", log_path()) };
    });
}

/// Waits until the plugin's log contains `needle` (the loader thread logs asynchronously).
fn log_contains(needle: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(log_path()).unwrap_or_default();
        if log.contains(needle) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the log lacks {needle:?}:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new instance with nothing restored: the defaults.
fn default_solo() -> Vec<Note> {
    let mut host = Host::new(SR);
    settle(&mut host, TEMPO);
    play(&mut host, TEMPO, BEATS, |_| 512)
}

#[test]
fn garbage_state_is_refused_and_the_defaults_keep_playing() {
    with_log();
    let expected = default_solo();
    assert!(!expected.is_empty());
    let garbage: Vec<Vec<u8>> = vec![
        state_blob(b"\x00\xff\x13 definitely not JSON"),
        state_blob(b"{\"params\": 3, \"fields\": []}"),
        state_blob(b"[1, 2, 3]"),
        state_blob(b""),
        // A length prefix promising more than follows.
        {
            let mut blob = state_blob(b"{}");
            blob[0] = 200;
            blob
        },
        vec![1, 2, 3],
    ];
    for (i, bytes) in garbage.iter().enumerate() {
        let mut host = Host::new(SR);
        assert!(
            !host.try_load_state(bytes),
            "garbage state {i} was accepted"
        );
        settle(&mut host, TEMPO);
        let notes = play(&mut host, TEMPO, BEATS, |_| 512);
        assert_eq!(notes, expected, "after garbage state {i}");
    }
}

#[test]
fn a_state_from_a_future_version_loads_the_defaults_and_says_so() {
    with_log();
    let expected = default_solo();
    let json = serde_json::to_vec(&json!({
        "version": "9.0.0",
        "params": {"seed": {"i32": 4321}, "temperature": {"f32": 1.7}, "rhythm": {"string": "x"}},
        "fields": {"state-format": "7", "weights-path": "\"/elsewhere/future.safetensors\""},
    }))
    .unwrap();
    let mut host = Host::with_state(SR, Some(&state_blob(&json)));
    settle(&mut host, TEMPO);
    assert_eq!(play(&mut host, TEMPO, BEATS, |_| 512), expected);
    log_contains("saved by a newer jazz-synth (version 9.0.0, state format 7)").unwrap();
    let saved = state_text(&host.save_state());
    let format = format!(
        "\"state-format\":\"{}\"",
        jazz_synth::plugin::params::STATE_FORMAT
    );
    assert!(saved.contains(&format), "{saved}");
    assert!(!saved.contains("future.safetensors"), "{saved}");
}

#[test]
fn out_of_range_saved_values_are_clamped_and_logged() {
    with_log();
    let mut params = vec![
        ("preview-volume", json!({"f32": 1.0e30})),
        ("preview-on", json!({"bool": true})),
        ("velocity", json!({"i32": 1000})),
        ("low-note", json!({"i32": -40})),
    ];
    params.push(("transpose", json!({"bool": true})));
    let mut host = Host::with_state(SR, Some(&state_json(&params, None)));
    settle(&mut host, TEMPO);
    let notes = play(&mut host, TEMPO, BEATS, |_| 512);
    assert!(notes.iter().any(|n| n.on), "it plays");
    assert!(notes
        .iter()
        .filter(|n| n.on)
        .all(|n| (n.velocity - 1.0).abs() < 1e-6));
    let peak = host.audio_out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.0 && peak <= 1.0, "preview peak {peak}");
    log_contains("saved parameter \"preview-volume\": 1000000000000000000000000000000 is outside")
        .unwrap();
    log_contains("saved parameter \"velocity\": 1000 is outside 1..127, using 127").unwrap();
    log_contains("saved parameter \"transpose\": Bool(true) is the wrong kind of value").unwrap();
}

#[test]
fn a_vanished_weights_file_plays_the_default_model_and_says_so() {
    with_log();
    let path = std::env::temp_dir().join(format!(
        "jazz-synth-{}-vanishing.safetensors",
        std::process::id()
    ));
    write_alternative_weights(&path);
    let path_str = path.to_str().unwrap().to_string();

    let mut original = Host::with_state(SR, Some(&state_json(&[], Some(&path_str))));
    settle(&mut original, TEMPO);
    let with_file = play(&mut original, TEMPO, BEATS, |_| 512);
    let saved = original.save_state();
    assert_ne!(
        with_file,
        default_solo(),
        "the weights file changes the solo"
    );

    std::fs::remove_file(&path).unwrap();
    let mut reopened = Host::with_state(SR, Some(&saved));
    settle(&mut reopened, TEMPO);
    assert_eq!(
        play(&mut reopened, TEMPO, BEATS, |_| 512),
        default_solo(),
        "the default model plays"
    );
    log_contains(&format!("could not load the weights file: {path_str}")).unwrap();
    log_contains("playing the embedded default model instead").unwrap();
    // Nothing is lost: saving again still names the file, so restoring it brings it back.
    let resaved = reopened.save_state();
    assert!(state_text(&resaved).contains(&path_str));
    write_alternative_weights(&path);
    let mut restored = Host::with_state(SR, Some(&resaved));
    settle(&mut restored, TEMPO);
    assert_eq!(play(&mut restored, TEMPO, BEATS, |_| 512), with_file);
    let _ = std::fs::remove_file(&path);
}
