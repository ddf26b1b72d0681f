//! `cargo xtask bundle jazz-synth --release` builds the CLAP/VST3 bundles (nice-plug-xtask).
//! `cargo xtask test` runs the whole test suite the way CI does: style checks, a JACK server
//! with the dummy driver for the live-MIDI tests (started only if none is running), every test
//! of the workspace, the plugin's allocation check (its binary built with nice-plug's
//! `assert_process_allocs`), and a summary at the end: tests passed/failed/skipped, soak hours
//! simulated, property cases tried, fuzz regressions replayed, and notes the tests report through
//! the file named in `JAZZ_SYNTH_SUMMARY` (see tests/common/summary.rs).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("test") {
        return run_tests(&args[1..]);
    }
    match nice_plug_xtask::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn step(name: &str, cmd: &mut Command) -> bool {
    eprintln!("==> {name}");
    match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("xtask: {name} failed ({status})");
            false
        }
        Err(err) => {
            eprintln!("xtask: could not run {name}: {err}");
            false
        }
    }
}

/// A JACK server with the dummy driver, so live-MIDI tests run on machines without a sound card.
/// Only started (and later stopped) when no server answers already.
fn ensure_jack() -> Result<Option<Child>, String> {
    let running = || {
        Command::new("jack_lsp")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("JACK_NO_START_SERVER", "1")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if running() {
        eprintln!("==> using the JACK server already running");
        return Ok(None);
    }
    eprintln!("==> starting jackd -S -d dummy -r 48000 -p 256 (synchronous: no skipped cycles under load)");
    let child = Command::new("jackd")
        .args([
            "-S",
            "--no-realtime",
            "-d",
            "dummy",
            "-r",
            "48000",
            "-p",
            "256",
        ])
        .env("JACK_NO_AUDIO_RESERVATION", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start jackd (install the jackd2 package): {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if running() {
            return Ok(Some(child));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("jackd did not come up within 15 s".into())
}

fn run_tests(extra: &[String]) -> ExitCode {
    if !step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    ) {
        return ExitCode::FAILURE;
    }
    if !step(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    ) {
        return ExitCode::FAILURE;
    }
    let mut jack = match ensure_jack() {
        Ok(j) => j,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Tests append `<key> <number>` or `note <text>` lines here (tests/common/summary.rs).
    let summary_file = workspace_root()
        .join("target")
        .join("xtask-test-summary.txt");
    let _ = std::fs::create_dir_all(workspace_root().join("target"));
    let _ = std::fs::remove_file(&summary_file);

    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    let mut ok = true;
    // The plugin's no-allocation proof needs the plugin binary built with nice-plug's
    // `assert_process_allocs`, so it is its own cargo run (a feature-gated test target).
    let runs: [(&str, Vec<&str>); 2] = [
        (
            "cargo test --workspace",
            ["test", "--workspace", "--color", "never"]
                .into_iter()
                .chain(extra.iter().map(String::as_str))
                .collect(),
        ),
        (
            "cargo test --features assert_process_allocs --test clap_host_alloc",
            vec![
                "test",
                "--color",
                "never",
                "--features",
                "assert_process_allocs",
                "--test",
                "clap_host_alloc",
            ],
        ),
    ];
    for (name, args) in runs {
        eprintln!("==> {name}");
        let mut child = match cargo()
            .args(&args)
            .env("JAZZ_SYNTH_SUMMARY", &summary_file)
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("xtask: could not run cargo test: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stdout = child.stdout.take().expect("piped stdout");
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += count(rest, " passed");
                failed += count(rest, " failed");
                ignored += count(rest, " ignored");
            }
        }
        ok &= child.wait().map(|s| s.success()).unwrap_or(false);
    }
    if let Some(mut j) = jack.take() {
        let _ = j.kill();
        let _ = j.wait();
    }
    let report = Report::read(&summary_file);
    println!();
    println!("== jazz-synth test summary ==");
    println!("tests: {passed} passed, {failed} failed, {ignored} skipped");
    println!(
        "soak: {:.2} hours of host time at 48 kHz simulated ({} blocks, {} beats played)",
        report.total("soak-host-hours"),
        report.total("soak-blocks"),
        report.total("soak-beats"),
    );
    println!(
        "property tests: {} cases tried",
        report.total("property-cases")
    );
    println!(
        "fuzz regressions: {} saved inputs replayed",
        report.total("fuzz-regressions")
    );
    for note in &report.notes {
        println!("{note}");
    }
    println!("{passed} passed, {failed} failed, {ignored} skipped");
    if ok && failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Reads "N passed" style counts out of libtest's "test result:" line.
fn count(line: &str, label: &str) -> u64 {
    line.split(';')
        .find_map(|part| part.trim().strip_suffix(label.trim_start()))
        .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// What the tests reported through `JAZZ_SYNTH_SUMMARY`.
#[derive(Default)]
struct Report {
    totals: Vec<(String, f64)>,
    notes: Vec<String>,
}

impl Report {
    fn read(path: &std::path::Path) -> Report {
        let mut report = Report::default();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            let Some((key, rest)) = line.split_once(' ') else {
                continue;
            };
            if key == "note" {
                report.notes.push(rest.to_string());
            } else if let Ok(value) = rest.trim().parse::<f64>() {
                match report.totals.iter_mut().find(|(k, _)| k == key) {
                    Some((_, total)) => *total += value,
                    None => report.totals.push((key.to_string(), value)),
                }
            }
        }
        report
    }

    /// The sum reported for `key`, 0 when nothing was.
    fn total(&self, key: &str) -> f64 {
        self.totals
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0.0, |(_, total)| *total)
    }
}
