//! Fills the cargo-fuzz corpora with seed inputs: `cargo run --example fuzz_seeds [CORPUS_DIR
//! [METHENY_MID]]` (defaults `fuzz/corpus` and `data/original_metheny.mid`). Writes
//! `jazz_synth::fuzzing::seeds` and copies the saved inputs of `fuzz/regressions/<target>/` into
//! `CORPUS_DIR/<target>/`.

use std::path::PathBuf;
use std::process::ExitCode;

use jazz_synth::fuzzing::{seeds, TARGETS};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "fuzz/corpus".into()));
    let midi = PathBuf::from(args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/original_metheny.mid").into()
    }));
    match run(&dir, &midi) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("fuzz_seeds: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &std::path::Path, midi: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(midi).map_err(|e| format!("{}: {e}", midi.display()))?;
    let mut written = Vec::new();
    for seed in seeds(&bytes).map_err(|e| e.to_string())? {
        write(&dir.join(seed.target), &seed.name, &seed.bytes)?;
        written.push(seed.target);
    }
    for (target, _) in TARGETS {
        let saved = std::path::Path::new("fuzz/regressions").join(target);
        let entries = std::fs::read_dir(&saved).map_err(|e| format!("{}: {e}", saved.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            write(&dir.join(target), &format!("regression-{name}"), &bytes)?;
            written.push(target);
        }
    }
    for (target, _) in TARGETS {
        let n = written.iter().filter(|t| **t == target).count();
        println!("{}: {n} seeds", dir.join(target).display());
    }
    Ok(())
}

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
