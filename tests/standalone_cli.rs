//! The `jazz-synth` command line: port errors, `sample`, the no-output
//! default, option validation. Uses the JACK server CI starts (for port
//! listings); never skips without it.

use std::fs;
use std::process::{Command, Output};

use jazz_synth::engine::sample_sequence;
use jazz_synth::model::weights;
use jazz_synth::standalone::session::{MusicOptions, Setup};

const BIN: &str = env!("CARGO_BIN_EXE_jazz-synth");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run jazz-synth")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A JACK client with a MIDI input port, so listings have something to show.
fn jack_port(tag: &str) -> (jack::Client, String) {
    let (client, _) = jack::Client::new(
        &format!("{tag}-{}", std::process::id()),
        jack::ClientOptions::NO_START_SERVER,
    )
    .unwrap_or_else(|e| panic!("no JACK server ({e}); CI starts `jackd -d dummy -r 48000 -p 256`"));
    let port = client.register_port("in", jack::MidiIn::default()).unwrap();
    let name = port.name().unwrap();
    (client, name)
}

#[test]
fn a_missing_midi_port_exits_2_and_lists_the_ports() {
    let (_client, jack_in) = jack_port("cli-list");
    let o = run(&["--midi-out", "nosuchport", "--bars", "1"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no MIDI output matches \"nosuchport\""),
        "{err}"
    );
    assert!(err.contains("Available MIDI outputs"), "{err}");
    assert!(err.contains(&jack_in), "JACK ports are listed too:\n{err}");
    assert!(o.stdout.is_empty(), "nothing played");
}

#[test]
fn list_ports_shows_alsa_and_jack_ports() {
    let (_client, jack_in) = jack_port("cli-lsp");
    let o = run(&["--list-ports"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ALSA MIDI"), "{out}");
    assert!(
        out.contains("JACK MIDI inputs (for --jack --midi-out):"),
        "{out}"
    );
    assert!(out.contains(&jack_in), "{out}");
}

#[test]
fn sample_prints_the_models_argmax_sequence_as_index_tab_value() {
    let o = run(&["sample", "--steps", "50"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut model = weights::default_model();
    let vocab: Vec<String> = model.vocab().iter().map(|v| v.to_string()).collect();
    let printed: Vec<(usize, String)> = text
        .lines()
        .map(|l| {
            let (i, v) = l.split_once('\t').expect("index<TAB>value");
            (i.parse().expect("an index"), v.to_string())
        })
        .collect();
    assert_eq!(printed.len(), 50);
    for (i, v) in &printed {
        assert_eq!(
            &vocab[*i], v,
            "the value printed is the vocabulary entry of the index"
        );
    }
    // The original's predict_and_sample, step by step: zero state and
    // input, then each step's argmax fed back.
    model.reset();
    let mut input = None;
    let mut expected = Vec::new();
    for _ in 0..50 {
        let probs = model.step(input);
        let mut best = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > probs[best] {
                best = i;
            }
        }
        expected.push(best);
        input = Some(best);
    }
    let indices: Vec<usize> = printed.iter().map(|p| p.0).collect();
    assert_eq!(indices, expected);
}

#[test]
fn sample_with_a_temperature_repeats_for_the_same_seed() {
    let args = [
        "sample",
        "--steps",
        "40",
        "--temperature",
        "1.5",
        "--seed",
        "3",
    ];
    let (a, b) = (run(&args), run(&args));
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let mut model = weights::default_model();
    let lib = sample_sequence(&mut model, 40, 1.5, 3);
    let printed: Vec<usize> = String::from_utf8(a.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(printed, lib, "the binary runs the library's loop");
}

#[test]
fn with_no_output_chosen_it_renders_files_and_explains_how_to_play_live() {
    let dir = std::env::temp_dir().join(format!("jazz-synth-noout-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let o = Command::new(BIN)
        .args(["--bars", "2", "--quiet"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no MIDI output chosen"), "{err}");
    for hint in ["--midi-out", "--virtual", "--jack", "--list-ports"] {
        assert!(err.contains(hint), "explains {hint}:\n{err}");
    }
    let mid = fs::read(dir.join("solo.mid")).expect("solo.mid written");
    assert!(midly::Smf::parse(&mid).is_ok());
    let wav = hound::WavReader::open(dir.join("solo.wav")).expect("solo.wav written");
    assert_eq!(wav.spec().sample_rate, 48_000);
    fs::remove_dir_all(&dir).unwrap();
}

/// A note as `note_line` prints it (`G#4`, `E-4`) as a MIDI note number.
fn midi_of(name: &str) -> Option<u8> {
    let (pc_name, octave) = jazz_synth::music::theory::PITCH_NAMES
        .iter()
        .enumerate()
        .filter(|(_, n)| name.starts_with(**n))
        .max_by_key(|(_, n)| n.len())?;
    let octave: i32 = name[octave.len()..].parse().ok()?;
    u8::try_from((octave + 1) * 12 + pc_name as i32).ok()
}

#[test]
fn the_note_lines_of_command_1_show_roles_that_agree_with_their_pitches() {
    use jazz_synth::music::changes::parse_symbol;
    use jazz_synth::music::grammar::role_by_pitch_class;
    let dir = std::env::temp_dir().join(format!("jazz-synth-roles-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    for (progression, seed) in [
        ("ii-V-I", "0"),
        ("ii-V-I", "7"),
        ("blues", "1"),
        ("autumn", "2"),
        ("rhythm", "3"),
        ("metheny", "4"),
    ] {
        let o = Command::new(BIN)
            .args(["--bars", "8", "--progression", progression, "--seed", seed])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        for line in out
            .lines()
            .filter(|l| l.contains(':') && !l.contains("rest"))
        {
            // bar:beat  chord  role  note  value
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, symbol, role, note, value] = fields[..] else {
                panic!("a note line has five fields: {line:?}");
            };
            let chord = parse_symbol(symbol)
                .unwrap_or_else(|e| panic!("{line}: {e:?}"))
                .to_chord();
            let midi = midi_of(note).unwrap_or_else(|| panic!("{line}: a note name"));
            let heard = role_by_pitch_class(midi, &chord);
            assert_eq!(
                heard.to_string(),
                role,
                "{progression}: {line} ({note} over {symbol} is {heard:?})"
            );
            assert!(value.starts_with(role), "{line}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} note lines checked");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_options_exit_2_and_say_what_is_wrong() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["render", "--low", "90", "--high", "60"],
            "--low 90 is not below --high 60",
        ),
        (
            &["render", "--channel", "17"],
            "--channel 17: MIDI channels are 1 to 16",
        ),
        (&["render", "--tempo", "1000"], "--tempo 1000"),
        (&["render", "--temperature", "-1"], "--temperature -1"),
        (
            &["render", "--progression", "nosuch"],
            "Built-in progressions:",
        ),
        (
            &["render", "--weights", "/nonexistent/w.safetensors"],
            "/nonexistent/w.safetensors",
        ),
        (&["render", "--bars", "0"], "--bars must be at least 1"),
        (&["--follow-transport"], "--jack"),
    ];
    for (args, want) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?} should say {want:?}:\n{err}");
    }
}

#[test]
fn a_progression_is_found_by_part_of_its_name() {
    let s = Setup::from_options(&MusicOptions {
        progression: Some("blues".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(jazz_synth::music::changes::BUILTIN[s.settings.progression]
        .0
        .contains("blues"));
    assert!(!s.custom_changes);
    let s = Setup::from_options(&MusicOptions {
        chords: Some("Dm7 G7 | Cmaj7".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(s.custom_changes);
    assert_eq!(s.progression.bars(), 2);
}

#[test]
fn help_documents_every_flag() {
    let o = run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--midi-out",
        "--list-ports",
        "--virtual",
        "--jack",
        "--follow-transport",
        "--tempo",
        "--bars",
        "--chords",
        "--progression",
        "--chords-in",
        "--temperature",
        "--seed",
        "--weights",
        "--low",
        "--high",
        "--channel",
        "--rhythm",
        "--quiet",
        "--clock-out",
        "--clock-in",
        "--style",
        "--style-strength",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn every_built_in_model_the_docs_name_is_accepted_by_model() {
    let dir = std::env::temp_dir().join(format!("jazz-synth-models-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for args in [
        &["--model", "wjd"][..],
        &["--model", "metheny"][..],
        &["--model", "wjd-styles", "--style", "bebop"][..],
    ] {
        let o = Command::new(BIN)
            .args(["render", "--bars", "2", "--out", "m.mid"])
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    let o = Command::new(BIN)
        .args(["render", "--bars", "2", "--out", "m.mid", "--model", "nope"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("wjd-styles"), "{}", stderr(&o));
    fs::remove_dir_all(&dir).ok();
}
