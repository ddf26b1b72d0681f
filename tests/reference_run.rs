//! What a side-by-side run with another framework is built on: `jazz-train export-dataset`
//! writes the `--preset jazz` corpus exactly as training reads it (read back here by hand, as
//! NumPy reads it), and `jazz-train --report` writes the run's epoch time and held-out loss.
//! Every corpus here is written by the test itself.

use std::fs;
use std::path::Path;
use std::process::Command;

use jazz_synth::model::weights;
use jazz_synth::music::conditioning::COND_SIZE;
use jazz_synth::train::corpus::{self, AutoOptions};
use jazz_synth::train::jazz::{Encoded, JazzVocab, Part, Split};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::Value as Json;

mod common;
use common::corpus::{
    fails, solo_over_chords, solo_without_chords, succeeds, write_collection, TRAIN,
};

/// A solo over a random chord each bar (roots around the circle of fifths, seventh chords):
/// eighths and quarters wandering by steps and thirds, with a rest now and then.
fn wandering_solo(seed: u64, bars: usize) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut melody, mut chords) = (Vec::new(), Vec::new());
    let mut key: i32 = 67;
    for bar in 0..bars {
        let start = 4.0 * bar as f64;
        let root = 48 + [0u8, 5, 10, 3, 8, 1, 7, 2][rng.random_range(0..8usize)];
        let third = if rng.random::<bool>() { 4 } else { 3 };
        for k in [0u8, third, 7, 10] {
            chords.push((start, 4.0, root + k));
        }
        let mut t = 0.0;
        while t < 4.0 {
            let len = if rng.random::<bool>() { 0.5 } else { 1.0 };
            if rng.random_range(0..8u32) != 0 {
                key = (key + rng.random_range(-4..=4i32)).clamp(55, 84);
                melody.push((start + t, len, key as u8));
            }
            t += len;
        }
    }
    solo_over_chords(&melody, &chords)
}

/// A folder of `count` solos (and one without chords, which every reader skips).
fn collection(tag: &str, count: usize) -> std::path::PathBuf {
    let written = write_collection(tag, count, |k| {
        (format!("s{k:02}.mid"), wandering_solo(300 + k as u64, 12))
    });
    let free = [(0.0, 1.0, 60), (1.0, 1.0, 64), (2.0, 2.0, 67)];
    fs::write(written.solos.join("free.mid"), solo_without_chords(&free)).unwrap();
    written.solos
}

/// A dataset file as NumPy reads it: the header line, then each array at its offset.
struct Dataset {
    header: Json,
    data: Vec<u8>,
}

impl Dataset {
    fn read(path: &Path) -> Dataset {
        let bytes = fs::read(path).unwrap();
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .expect("a header line");
        let header: Json = serde_json::from_slice(&bytes[..end]).expect("JSON header");
        Dataset {
            header,
            data: bytes[end + 1..].to_vec(),
        }
    }

    /// The array's bytes after checking its dtype and shape.
    fn array(&self, name: &str, dtype: &str, shape: &[usize]) -> &[u8] {
        let a = &self.header["arrays"][name];
        assert_eq!(a["dtype"], dtype, "{name}");
        let got: Vec<usize> = a["shape"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no shape"))
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got, shape, "{name}");
        let offset = a["offset"].as_u64().unwrap() as usize;
        assert_eq!(offset % 64, 0, "{name} aligned");
        let len = shape.iter().product::<usize>() * 4;
        &self.data[offset..offset + len]
    }

    fn u32s(&self, name: &str, shape: &[usize]) -> Vec<usize> {
        self.array(name, "<u4", shape)
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect()
    }

    fn f32s(&self, name: &str, shape: &[usize]) -> Vec<f32> {
        self.array(name, "<f4", shape)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

#[test]
fn the_exported_dataset_is_what_jazz_training_reads_and_the_report_scores_it() {
    let files = collection("export", 24);
    let out = files.parent().unwrap().join("wjd.dataset");
    let split = Split {
        validation: 0.2,
        test: 0.25,
    };
    let shares = ["--validation", "0.2", "--test", "0.25"];
    let printed = succeeds(
        Command::new(TRAIN)
            .arg("export-dataset")
            .arg(&files)
            .args(shares)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        printed.contains("skipped") && printed.contains("free.mid"),
        "{printed}"
    );
    let ds = Dataset::read(&out);
    let h = &ds.header;
    assert_eq!(h["format"], "jazz-synth-dataset/1");
    assert_eq!(h["cond_size"], COND_SIZE);
    assert_eq!(h["skipped"][0]["file"], "free.mid");

    // The same reading, in process, through the library's parts.
    let inputs = corpus::expand_inputs(std::slice::from_ref(&files)).unwrap();
    let (solos, _) = corpus::load_solos(&inputs, &AutoOptions::default());
    assert_eq!(solos.len(), 24);
    let of = |p: Part| -> Vec<&corpus::Solo> {
        solos
            .iter()
            .filter(|s| split.part(&s.sha256) == p)
            .collect()
    };
    let vocab = JazzVocab::build(&of(Part::Train), 3);
    let vocabulary: Vec<String> = vocab.values().iter().map(|v| v.to_string()).collect();
    let exported: Vec<String> = h["vocabulary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(exported, vocabulary);
    let mut listed = 0;
    for (part, name) in [
        (Part::Train, "train"),
        (Part::Validation, "validation"),
        (Part::Test, "test"),
    ] {
        let part_solos = of(part);
        assert!(
            !part_solos.is_empty(),
            "{name}: the split leaves solos in every part"
        );
        let enc = Encoded::of(&part_solos, &vocab);
        let n = enc.indices.len();
        assert_eq!(
            ds.u32s(&format!("{name}_values"), &[n]),
            enc.indices,
            "{name}"
        );
        let cond = ds.f32s(&format!("{name}_cond"), &[n, COND_SIZE]);
        assert!(
            cond.iter()
                .zip(&enc.cond)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: conditioning bit for bit"
        );
        assert!(cond.iter().any(|&x| x != 0.0));
        let starts = ds.u32s(&format!("{name}_starts"), &[part_solos.len() + 1]);
        assert_eq!(starts, enc.starts, "{name}");
        assert_eq!(h["parts"][name]["mapped"], enc.mapped, "{name}");
        for (k, solo) in part_solos.iter().enumerate() {
            let entry = &h["solos"][listed];
            assert_eq!(entry["part"], name);
            assert_eq!(entry["sha256"], solo.sha256.as_str());
            assert_eq!(entry["values"], starts[k + 1] - starts[k]);
            assert_eq!(entry["values"], solo.notes.len());
            listed += 1;
        }
    }
    assert_eq!(h["solos"].as_array().unwrap().len(), listed);
    let text = String::from_utf8_lossy(&fs::read(&out).unwrap()).into_owned();
    assert!(
        !text.contains(files.to_str().unwrap()),
        "no local paths in the file"
    );

    // Training on the same files sees the same vocabulary and training solos, trains on the
    // windows the export implies, and its report's held-out loss is the validation it kept.
    let (tx, stride) = (16usize, 8usize);
    let weights_path = files.parent().unwrap().join("model.safetensors");
    let report_path = files.parent().unwrap().join("report.json");
    succeeds(
        Command::new(TRAIN)
            .arg(&files)
            .args(["--preset", "jazz", "--epochs", "1", "--hidden", "8"])
            .args(["--tx", "16", "--threads", "1", "--quiet"])
            .args(shares)
            .arg("--out")
            .arg(&weights_path)
            .arg("--report")
            .arg(&report_path),
    );
    let model = weights::load_file(&weights_path).unwrap();
    let trained_vocab: Vec<String> = model.vocab().iter().map(|v| v.to_string()).collect();
    assert_eq!(trained_vocab, exported);
    let trained: Vec<&str> = model
        .provenance()
        .training_files
        .iter()
        .map(|f| f.sha256.as_str())
        .collect();
    let exported_train: Vec<&str> = h["solos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["part"] == "train")
        .map(|s| s["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(trained, exported_train);

    let report_text = fs::read_to_string(&report_path).unwrap();
    assert_eq!(report_text.lines().count(), 1, "one JSON line");
    let report: Json = serde_json::from_str(&report_text).unwrap();
    let train_values = h["parts"]["train"]["values"].as_u64().unwrap() as usize;
    let windows = (train_values - tx).div_ceil(stride);
    assert_eq!(report["windows_per_epoch"], windows, "{report_text}");
    assert_eq!(report["epochs"], 1);
    assert_eq!(report["hidden"], 8);
    assert_eq!(report["layers"], 1);
    assert_eq!(report["tx"], tx);
    assert_eq!(report["batch"], 32);
    assert_eq!(report["threads"], 1);
    let seconds = report["seconds_per_epoch"].as_f64().unwrap();
    assert!(seconds > 0.0 && seconds < 60.0, "{report_text}");
    assert_eq!(report["epoch_seconds"][0].as_f64(), Some(seconds));
    let rate = report["windows_per_second"].as_f64().unwrap();
    assert!((rate * seconds - windows as f64).abs() < 1e-6 * windows as f64);
    let validation = model.provenance().validation.expect("a validation");
    let nll = report["heldout_nll"].as_f64().unwrap();
    assert_eq!(nll, validation.nll, "{report_text}");
    assert_eq!(report["heldout_nll_per_epoch"][0].as_f64(), Some(nll));
    let valid_values = h["parts"]["validation"]["values"].as_u64().unwrap() as usize;
    assert_eq!(validation.values, valid_values);
    assert!(report["validation_seconds"].as_f64().unwrap() >= 0.0);
    let cpu = report["cpu_seconds_per_epoch"]
        .as_f64()
        .expect("CPU time on Linux");
    assert!(cpu > 0.0 && cpu < 60.0, "{report_text}");
}

#[test]
fn export_dataset_refuses_what_it_cannot_use_and_writes_nothing() {
    let files = collection("export-errors", 3);
    let root = files.parent().unwrap().to_path_buf();
    let refused = |args: &[&str], out: &Path, says: &str| {
        let stderr = fails(
            Command::new(TRAIN)
                .arg("export-dataset")
                .args(args)
                .arg("--out")
                .arg(out),
        );
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: nothing written");
    };
    let out = root.join("d.dataset");
    let missing = root.join("no-such-folder");
    refused(&[missing.to_str().unwrap()], &out, "does not exist");
    refused(
        &[files.to_str().unwrap()],
        &root.join("absent/d.dataset"),
        "does not exist",
    );
    refused(
        &[files.to_str().unwrap(), "--test", "1.5"],
        &out,
        "--test 1.5",
    );
    refused(
        &[
            files.to_str().unwrap(),
            "--validation",
            "0.5",
            "--test",
            "0.45",
        ],
        &out,
        "almost nothing to train on",
    );
    let free = files.join("free.mid");
    refused(&[free.to_str().unwrap()], &out, "no solo to train on");
}
