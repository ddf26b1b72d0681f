//! What a side-by-side run with another framework (`benches/keras_reference.py`) needs: the
//! `--preset jazz` corpus exactly as training reads it, written so NumPy reads it with nothing
//! else installed, and a one-object report of a run's speed and held-out loss.
//!
//! # The dataset file (`jazz-synth-dataset/1`)
//!
//! One line of JSON (the header, ended by `\n`), then the arrays, little-endian, each starting
//! `offset` bytes after that newline (a multiple of 64). The header holds:
//!
//! - `vocabulary`: the values in index order (as a weights file writes them);
//! - `cond_size`, `cond_layout`: the conditioning inputs (`jazz-synth/cond-1`, 79 numbers);
//! - `arrays`: for each part `P` of `train`, `validation`, `test`: `P_values` (`<u4`, `[N]`, the
//!   value indices of the part's solos one after the other), `P_cond` (`<f4`, `[N, cond_size]`,
//!   row `k` the conditioning of value `k`: the network hears it at the step that predicts value
//!   `k`) and `P_starts` (`<u4`, `[solos + 1]`, where each solo starts, then `N`), each with its
//!   `dtype`, `shape` and `offset`;
//! - `solos`: each solo's file name, SHA-256, part and number of values, in the arrays' order
//!   (training solos first, then validation, then test);
//! - `split`, `min_count`, `parts` (solos, values and values mapped to their nearest per part)
//!   and `skipped` (files that could not be read, with the reason).
//!
//! In Python: `header = json.loads(f.readline())`, then `np.frombuffer(rest, dtype, count,
//! offset).reshape(shape)` for each array.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::music::conditioning::{COND_SIZE, LAYOUT};
use crate::train::corpus::{AutoOptions, CorpusError, Input};
use crate::train::jazz::{Encoded, JazzVocab, Part, Split, SplitCorpus};
use crate::train::TrainConfig;

/// The format name in a dataset file's header.
pub const DATASET_FORMAT: &str = "jazz-synth-dataset/1";

/// Arrays start at multiples of this many bytes after the header.
const ALIGN: usize = 64;

/// The parts in the order the dataset file writes them.
pub const PARTS: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

/// A collection read for the chord-aware model as `jazz-train --preset jazz` reads it: solos
/// split by file hash, the vocabulary of the training solos, every part encoded against it.
#[derive(Clone, Debug)]
pub struct JazzCorpus {
    /// The solos read, the files skipped and the split.
    pub corpus: SplitCorpus,
    pub min_count: usize,
    pub vocab: JazzVocab,
    pub train: Encoded,
    pub validation: Encoded,
    pub test: Encoded,
}

impl JazzCorpus {
    /// Reads `inputs` (a file's own track choices replace `options`). Fails, saying why, when
    /// no solo is left to train on.
    pub fn read(
        inputs: &[Input],
        options: &AutoOptions,
        split: Split,
        min_count: usize,
    ) -> Result<JazzCorpus, String> {
        let corpus = SplitCorpus::read(inputs, options, split);
        let vocab = JazzVocab::build(&corpus.training()?, min_count);
        let encode = |p: Part| Encoded::of(&corpus.solos_of(p), &vocab);
        let (train, validation, test) = (
            encode(Part::Train),
            encode(Part::Validation),
            encode(Part::Test),
        );
        Ok(JazzCorpus {
            corpus,
            min_count,
            vocab,
            train,
            validation,
            test,
        })
    }

    /// The encoded values of one part.
    pub fn encoded(&self, part: Part) -> &Encoded {
        match part {
            Part::Train => &self.train,
            Part::Validation => &self.validation,
            Part::Test => &self.test,
        }
    }

    /// The dataset file's bytes (see the module docs).
    pub fn dataset_bytes(&self) -> Result<Vec<u8>, String> {
        let mut data: Vec<u8> = Vec::new();
        let mut arrays = serde_json::Map::new();
        let mut parts = serde_json::Map::new();
        let mut solos = Vec::new();
        let pad = |data: &mut Vec<u8>| data.resize(data.len().div_ceil(ALIGN) * ALIGN, 0);
        for part in PARTS {
            let name = part_name(part);
            let enc = self.encoded(part);
            let values = u32s(&enc.indices, &format!("{name} values"))?;
            let starts = u32s(&enc.starts, &format!("{name} solo starts"))?;
            let n = enc.indices.len();
            if enc.cond.len() != n * COND_SIZE {
                return Err(format!(
                    "the {name} part has {} conditioning numbers for {n} values",
                    enc.cond.len()
                ));
            }
            let mut put = |suffix: &str,
                           dtype: &str,
                           shape: Json,
                           bytes: &mut dyn Iterator<Item = [u8; 4]>| {
                pad(&mut data);
                let offset = data.len();
                for b in bytes {
                    data.extend_from_slice(&b);
                }
                arrays.insert(
                    format!("{name}_{suffix}"),
                    json!({"dtype": dtype, "shape": shape, "offset": offset}),
                );
            };
            put(
                "values",
                "<u4",
                json!([n]),
                &mut values.iter().map(|v| v.to_le_bytes()),
            );
            put(
                "cond",
                "<f4",
                json!([n, COND_SIZE]),
                &mut enc.cond.iter().map(|x| x.to_le_bytes()),
            );
            put(
                "starts",
                "<u4",
                json!([starts.len()]),
                &mut starts.iter().map(|v| v.to_le_bytes()),
            );
            let of = self.corpus.solos_of(part);
            parts.insert(
                name.into(),
                json!({"solos": of.len(), "values": n, "mapped": enc.mapped}),
            );
            for (k, solo) in of.iter().enumerate() {
                solos.push(json!({
                    "file": file_name(&solo.path),
                    "sha256": solo.sha256,
                    "part": name,
                    "values": enc.starts[k + 1] - enc.starts[k],
                }));
            }
        }
        let skipped: Vec<Json> = self
            .corpus
            .skipped
            .iter()
            .map(|e| match e {
                CorpusError::File { path, reason } => {
                    json!({"file": file_name(path), "reason": reason})
                }
                other => json!({"file": null, "reason": other.to_string()}),
            })
            .collect();
        let header = json!({
            "format": DATASET_FORMAT,
            "byte_order": "little",
            "vocabulary": self.vocab.values().iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            "cond_size": COND_SIZE,
            "cond_layout": LAYOUT,
            "split": {"validation": self.corpus.split.validation, "test": self.corpus.split.test},
            "min_count": self.min_count,
            "parts": parts,
            "arrays": arrays,
            "solos": solos,
            "skipped": skipped,
        });
        let mut bytes = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&data);
        Ok(bytes)
    }

    /// Writes the dataset file atomically (see the module docs).
    pub fn write_dataset(&self, path: &Path) -> Result<(), String> {
        let bytes = self.dataset_bytes()?;
        crate::files::write_atomic(path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// The part's name as the dataset file and the reports write it.
pub fn part_name(part: Part) -> &'static str {
    match part {
        Part::Train => "train",
        Part::Validation => "validation",
        Part::Test => "test",
    }
}

fn u32s(xs: &[usize], what: &str) -> Result<Vec<u32>, String> {
    xs.iter()
        .map(|&x| {
            u32::try_from(x)
                .map_err(|_| format!("the {what} go past 2^32 - 1; export a smaller collection"))
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Times a training run's epochs and keeps each epoch's held-out loss, for [`RunReport`].
#[derive(Clone, Debug)]
pub struct EpochClock {
    last: Instant,
    /// Wall seconds of each epoch, its held-out scoring included.
    laps: Vec<f64>,
    /// The process's CPU seconds (all threads) when the last epoch ended, and each epoch's.
    last_cpu: Option<f64>,
    cpu_laps: Vec<f64>,
    heldout: Vec<f64>,
}

impl EpochClock {
    /// Starts the clock (call it just before the first epoch starts).
    pub fn start() -> EpochClock {
        EpochClock {
            last: Instant::now(),
            laps: Vec::new(),
            last_cpu: process_cpu_seconds(),
            cpu_laps: Vec::new(),
            heldout: Vec::new(),
        }
    }

    /// An epoch (and its held-out scoring, if any) has just ended.
    pub fn epoch_done(&mut self, heldout_nll: Option<f64>) {
        let now = Instant::now();
        self.laps.push(now.duration_since(self.last).as_secs_f64());
        self.last = now;
        let cpu = process_cpu_seconds();
        if let (Some(a), Some(b)) = (self.last_cpu, cpu) {
            self.cpu_laps.push(b - a);
        }
        self.last_cpu = cpu;
        if let Some(nll) = heldout_nll {
            self.heldout.push(nll);
        }
    }

    /// The report of the epochs so far. `validation_seconds` is the time one held-out scoring
    /// takes (timed once by the caller), taken off each epoch so that `seconds_per_epoch` is the
    /// training pass alone, as a framework's `fit` measures it; `windows_per_epoch` the training
    /// windows of an epoch.
    pub fn report(
        &self,
        config: &TrainConfig,
        windows_per_epoch: usize,
        validation_seconds: f64,
    ) -> RunReport {
        let epochs = self.laps.len();
        let training: Vec<f64> = self
            .laps
            .iter()
            .map(|l| (l - validation_seconds).max(0.0))
            .collect();
        let seconds_per_epoch = steady_mean(&training);
        // The held-out scoring runs on one thread, so its CPU time is about its wall time.
        let cpu_seconds: Vec<f64> = self
            .cpu_laps
            .iter()
            .map(|c| (c - validation_seconds).max(0.0))
            .collect();
        let config_json = serde_json::to_value(config).unwrap_or(Json::Null);
        // The stacked-layer count, once the configuration has one; a single layer until then.
        let layers = config_json
            .get("layers")
            .and_then(Json::as_u64)
            .map_or(1, |l| l as usize);
        RunReport {
            program: "jazz-train".into(),
            seconds_per_epoch,
            heldout_nll: self.heldout.last().copied(),
            epochs,
            epoch_seconds: training,
            cpu_seconds_per_epoch: (cpu_seconds.len() == epochs && epochs > 0)
                .then(|| steady_mean(&cpu_seconds)),
            epoch_cpu_seconds: cpu_seconds,
            heldout_nll_per_epoch: self.heldout.clone(),
            validation_seconds,
            windows_per_epoch,
            windows_per_second: if seconds_per_epoch > 0.0 {
                windows_per_epoch as f64 / seconds_per_epoch
            } else {
                0.0
            },
            hidden: config.hidden,
            layers,
            threads: config.threads,
            tx: config.tx,
            batch: config.batch,
            config: config_json,
        }
    }
}

/// CPU seconds the process has used (user and system, every thread), where the system says.
fn process_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return None;
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(secs(usage.ru_utime) + secs(usage.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The mean of `seconds` without the first when there are more: the first epoch also pays for
/// warming up (a framework's graph building, the first touch of every buffer), which a longer
/// run spreads thin.
pub fn steady_mean(seconds: &[f64]) -> f64 {
    let steady = if seconds.len() > 1 {
        &seconds[1..]
    } else {
        seconds
    };
    steady.iter().sum::<f64>() / steady.len().max(1) as f64
}

/// What `jazz-train --report FILE` writes (one JSON object), the keys
/// `benches/keras_reference.py` prints too.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub program: String,
    /// Mean wall seconds of an epoch's training pass (the held-out scoring after it not
    /// counted), the first epoch left out when more ran ([`steady_mean`]).
    pub seconds_per_epoch: f64,
    /// Held-out negative log-likelihood per value (nats) after the last epoch; `null` when
    /// nothing was held out.
    pub heldout_nll: Option<f64>,
    pub epochs: usize,
    /// Each epoch's training seconds.
    pub epoch_seconds: Vec<f64>,
    /// CPU seconds of the whole process (every thread) per epoch, counted as
    /// `seconds_per_epoch` is: on a machine others share, the work done, which wall time is
    /// not. `null` where the system does not say.
    pub cpu_seconds_per_epoch: Option<f64>,
    pub epoch_cpu_seconds: Vec<f64>,
    pub heldout_nll_per_epoch: Vec<f64>,
    /// Seconds of one held-out scoring.
    pub validation_seconds: f64,
    pub windows_per_epoch: usize,
    pub windows_per_second: f64,
    pub hidden: usize,
    pub layers: usize,
    pub threads: usize,
    pub tx: usize,
    pub batch: usize,
    /// The run's whole training configuration.
    pub config: Json,
}

impl RunReport {
    /// Writes the report atomically as one line of JSON.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut bytes = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        crate::files::write_atomic(path, &bytes)
            .map_err(|e| format!("cannot write the report {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_epoch_is_left_out_of_the_mean_when_more_ran() {
        assert_eq!(steady_mean(&[9.0, 2.0, 4.0]), 3.0);
        assert_eq!(steady_mean(&[5.0]), 5.0);
        assert_eq!(steady_mean(&[]), 0.0);
    }

    #[test]
    fn the_report_takes_the_scoring_off_each_epoch() {
        let mut clock = EpochClock {
            last: Instant::now(),
            laps: vec![10.0, 6.0, 8.0],
            last_cpu: Some(0.0),
            cpu_laps: vec![20.0, 12.0, 14.0],
            heldout: vec![4.0, 3.5, 3.25],
        };
        let config = TrainConfig {
            hidden: 16,
            threads: 2,
            ..TrainConfig::default()
        };
        let r = clock.report(&config, 100, 1.0);
        assert_eq!(r.epoch_seconds, vec![9.0, 5.0, 7.0]);
        assert_eq!(r.seconds_per_epoch, 6.0);
        assert_eq!(r.epoch_cpu_seconds, vec![19.0, 11.0, 13.0]);
        assert_eq!(r.cpu_seconds_per_epoch, Some(12.0));
        assert_eq!(r.windows_per_second, 100.0 / 6.0);
        assert_eq!(r.heldout_nll, Some(3.25));
        assert_eq!((r.epochs, r.hidden, r.threads, r.layers), (3, 16, 2, 1));
        clock.epoch_done(None);
        assert_eq!(clock.report(&config, 100, 0.0).epochs, 4);
    }
}
