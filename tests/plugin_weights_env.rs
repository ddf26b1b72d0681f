//! `JAZZ_SYNTH_WEIGHTS` names the weights when the session names none, and the session then
//! remembers the file; a bad file is reported in the plugin's log. Environment variables are
//! process-wide (and nice-plug reads `NICE_LOG` once, when the plugin binary is first
//! initialised), so this is its own test binary with a single test.

mod common;

use std::time::{Duration, Instant};

use common::clap_harness::*;
use serde_json::json;

const SR: f64 = 48_000.0;
const TEMPO: f64 = 120.0;

fn params() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("rhythm", json!({"string": "beat"})),
        ("temperature", json!({"f32": 0.7})),
        ("seed", json!({"i32": 77})),
    ]
}

fn solo(host: &mut Host) -> Vec<Note> {
    let until = Instant::now() + Duration::from_millis(400);
    while Instant::now() < until {
        stopped(host, TEMPO, 0.0, 512, 512);
        std::thread::sleep(Duration::from_millis(10));
    }
    play(host, TEMPO, 16.0, |_| 512)
}

#[test]
fn the_environment_names_the_weights_and_the_session_remembers_them() {
    let path =
        std::env::temp_dir().join(format!("jazz-synth-{}-env.safetensors", std::process::id()));
    write_alternative_weights(&path);
    let path_str = path.to_str().unwrap();
    let log = std::env::temp_dir().join(format!("jazz-synth-{}-env.log", std::process::id()));
    std::env::set_var("NICE_LOG", &log);

    let embedded = solo(&mut Host::with_state(
        SR,
        Some(&state_json(&params(), None)),
    ));
    let named = solo(&mut Host::with_state(
        SR,
        Some(&state_json(&params(), Some(path_str))),
    ));
    assert_ne!(embedded, named, "the alternative weights play another solo");

    // Only this test runs in this binary, so no other thread reads the environment meanwhile.
    std::env::set_var("JAZZ_SYNTH_WEIGHTS", &path);
    let mut from_env = Host::with_state(SR, Some(&state_json(&params(), None)));
    assert_eq!(solo(&mut from_env), named, "JAZZ_SYNTH_WEIGHTS is played");
    let saved = from_env.save_state();
    assert!(
        state_text(&saved).contains(path_str),
        "the session records the file: {}",
        state_text(&saved)
    );

    // A path in the session wins over the environment: "" is not a path, so the variable
    // still applies; an explicit other file does not get overridden.
    let bad = std::env::temp_dir().join(format!("jazz-synth-{}-env-missing", std::process::id()));
    let mut explicit = Host::with_state(
        SR,
        Some(&state_json(&params(), Some(bad.to_str().unwrap()))),
    );
    assert_eq!(
        solo(&mut explicit),
        embedded,
        "a (missing) session file keeps the embedded model, whatever the environment says"
    );
    std::env::remove_var("JAZZ_SYNTH_WEIGHTS");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("could not load the weights file")
            && logged.contains(bad.to_str().unwrap()),
        "the bad file is reported with its path in the log: {logged}"
    );

    // The project opened on a machine without the variable still plays the same weights.
    let mut reopened = Host::with_state(SR, Some(&saved));
    assert_eq!(solo(&mut reopened), named);
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(log);
}
