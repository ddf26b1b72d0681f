//! `jazz-train`: learns from MIDI files and writes the weights file the plugin and the
//! standalone player load. Thin: argument parsing, progress display, and calls into
//! `jazz_synth::{corpus, train, weights}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use jazz_synth::model::weights;
use jazz_synth::music::contour::IntervalProfile;
use jazz_synth::music::quality::Figures;
use jazz_synth::standalone::live::install_interrupt_handler;
use jazz_synth::train::corpus::{self, AutoOptions, Preset};
use jazz_synth::train::evaluate::{split_point, train_validated, Ended, Stopping};
use jazz_synth::train::lines::{corpus_lines, joined};
use jazz_synth::train::{self, TrainConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PresetArg {
    /// The original's selection of original_metheny.mid (Guitar solo over the Piano's chords,
    /// quarter notes 476–548).
    Metheny,
    /// Any MIDI file: the melody track is found automatically (or --melody-track), chords come
    /// from what the other tracks sound on each beat (or --chord-track).
    Auto,
}

/// Train the jazz-synth LSTM on MIDI files and write a weights file.
///
/// Defaults are the original model's hyper-parameters (the "seed setup").
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// MIDI files (format 0 or 1; .mid, .midi, .kar, RMID), folders (searched recursively) or
    /// patterns like "tunes/*.mid". FILE:melody=N,chords=M gives one file its own tracks
    /// (0-based). Files that cannot be used are skipped with a message saying why.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Where to write the weights (safetensors). Written atomically.
    #[arg(long, short)]
    out: PathBuf,
    /// How values are taken from the files.
    #[arg(long, value_enum, default_value_t = PresetArg::Auto)]
    preset: PresetArg,
    /// Passes over the training windows.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Training windows drawn at random from the corpus each run (m, the original's 60). By
    /// default every window position is trained on each epoch (--preset auto), or 60 windows
    /// (--preset metheny, the original setup).
    #[arg(long)]
    windows: Option<usize>,
    /// Threads sharing each batch. Default: every core with --preset auto, 1 with --preset
    /// metheny (the original setup, bit for bit). The same seed and thread count give the same
    /// weights.
    #[arg(long)]
    threads: Option<usize>,
    /// Stop when the held-out loss has not improved for this many epochs (the best epoch's
    /// weights are written either way).
    #[arg(long)]
    patience: Option<usize>,
    /// Values per window (Tx).
    #[arg(long, default_value_t = 30)]
    tx: usize,
    /// LSTM hidden units.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Keras legacy learning-rate decay per batch.
    #[arg(long, default_value_t = 0.01)]
    decay: f64,
    /// Windows per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Seed of the window draws (NumPy's np.random.seed), initial weights and shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Zero-based MIDI track index of the melody (auto preset).
    #[arg(long)]
    melody_track: Option<usize>,
    /// Zero-based MIDI track index to take chords from (auto preset).
    #[arg(long)]
    chord_track: Option<usize>,
    /// Share of the corpus held out to measure the model on values it did not learn: the last
    /// files (or, with one file, its last values). 0 turns it off; the metheny preset never
    /// holds out, so the original setup stays exact.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Continue training from a weights file jazz-train wrote (after Ctrl-C, or to train
    /// longer): its weights, vocabulary and hidden size are the start; every value of the files
    /// must be in its vocabulary. Adam's moments start afresh.
    #[arg(long, value_name = "WEIGHTS")]
    resume: Option<PathBuf>,
    /// No progress bar; one line per epoch instead.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("jazz-train: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.preset == PresetArg::Metheny
        && (args.melody_track.is_some() || args.chord_track.is_some())
    {
        return Err("--melody-track and --chord-track only apply to --preset auto".into());
    }
    let preset = match args.preset {
        PresetArg::Metheny => Preset::Metheny,
        PresetArg::Auto => Preset::Auto(AutoOptions {
            melody_track: args.melody_track,
            chord_track: args.chord_track,
        }),
    };
    if args.patience == Some(0) {
        return Err(
            "--patience 0: give the epochs to wait for a better held-out loss, 1 or more".into(),
        );
    }
    let defaults = TrainConfig::default();
    let resume = match &args.resume {
        Some(path) => Some(
            weights::load_file(path)
                .map_err(|e| format!("--resume: cannot use the weights file {e}"))?,
        ),
        None => None,
    };
    let mut config = TrainConfig {
        windows: args.windows.unwrap_or(defaults.windows),
        every_window: args.windows.is_none() && args.preset == PresetArg::Auto,
        threads: args.threads.unwrap_or(match args.preset {
            PresetArg::Metheny => 1,
            PresetArg::Auto => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        }),
        tx: args.tx,
        hidden: args.hidden,
        lr: args.lr,
        decay: args.decay,
        epochs: args.epochs,
        batch: args.batch,
        seed: args.seed,
        ..TrainConfig::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    // Fail on an unwritable destination before spending time on training.
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(format!(
                "cannot write {}: the folder {} does not exist",
                args.out.display(),
                dir.display()
            ));
        }
    }

    let inputs = corpus::expand_inputs(&args.files).map_err(|e| e.to_string())?;
    if inputs.iter().any(|i| i.tracks.is_some()) && args.preset == PresetArg::Metheny {
        return Err("a file's own tracks (FILE:melody=N) only apply to --preset auto".into());
    }
    let (corpus, warnings) = corpus::load_inputs(&inputs, &preset).map_err(|e| e.to_string())?;
    for w in &warnings {
        eprintln!("warning: skipped {w}");
    }
    for source in &corpus.source {
        if let Some(tracks) = &source.tracks {
            println!("{}: {tracks}", source.path.display());
        }
    }
    let (vocab, indices) = match &resume {
        None => {
            let vocab = corpus.distinct();
            let indices = corpus.indices(&vocab);
            (vocab, indices)
        }
        Some(model) => {
            let path = args.resume.as_deref().unwrap_or(Path::new("")).display();
            let vocab = model.vocab().to_vec();
            let indices = corpus.try_indices(&vocab).map_err(|value| {
                format!(
                    "cannot resume from {path}: the files hold the value {value}, which its \
                     model never learned. Resume with the files it was trained on, or train a \
                     new model without --resume"
                )
            })?;
            config.hidden = model.hidden_size();
            config.start_from = Some(model.params().clone());
            let epochs = model
                .provenance()
                .final_loss
                .map(|l| format!(", last loss {l:.3}"))
                .unwrap_or_default();
            println!(
                "resuming from {path}: {} values, {} hidden units{epochs}; Adam's moments \
                 start afresh",
                model.n_values(),
                model.hidden_size()
            );
            (vocab, indices)
        }
    };
    println!(
        "corpus: {} file(s), {}",
        corpus.source.len(),
        corpus.stats()
    );
    let figures: Option<Figures> = {
        let lines = corpus_lines(&corpus.source);
        (!lines.is_empty()).then(|| joined(&lines).figures())
    };
    if let Some(f) = &figures {
        print!("the corpus's melodies:\n{f}");
    }

    if !(0.0..1.0).contains(&args.validation) {
        return Err(format!(
            "--validation {}: give the share to hold out, from 0 (none) to below 1, e.g. 0.1",
            args.validation
        ));
    }
    let share = if args.preset == PresetArg::Metheny {
        0.0
    } else {
        args.validation
    };
    let lengths: Vec<usize> = corpus.source.iter().map(|s| s.values).collect();
    let split = split_point(&lengths, share).filter(|&at| at > config.tx);
    let (train_part, held_out) = indices.split_at(split.unwrap_or(indices.len()));
    match split {
        Some(_) => println!(
            "held out for validation: {} of {} values",
            held_out.len(),
            indices.len()
        ),
        None if share > 0.0 => {
            println!("no validation: the corpus is too short to hold part of it out")
        }
        None => {}
    }

    if config.every_window {
        println!(
            "training windows: every position of the training part ({} windows of {} values)",
            train_part.len().saturating_sub(config.tx),
            config.tx
        );
    }
    // Ctrl-C ends training after the epoch running and writes the best weights so far.
    let interrupt = install_interrupt_handler().map_err(|e| e.to_string())?;
    let stopping = Stopping {
        patience: args.patience,
        stop: Some(interrupt),
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(config.epochs as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} epoch {pos}/{len} {msg} [{elapsed}, {eta} left]",
            )
            .expect("static template"),
        );
        bar
    };
    let windows_per_epoch = if config.every_window {
        train_part.len().saturating_sub(config.tx)
    } else {
        config.windows
    };
    let started = std::time::Instant::now();
    let (mut model, validated) = train_validated(
        train_part,
        held_out,
        vocab,
        &config,
        stopping,
        |s, validation| {
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let per_second = (s.epoch * windows_per_epoch) as f64 / seconds;
            let left = seconds / s.epoch as f64 * (s.epochs - s.epoch) as f64;
            let mut line = format!(
                "loss {:.4} (sum over Tx, as Keras prints) = {:.4}/value, accuracy {:.3}, \
                 {per_second:.0} windows/s",
                s.loss, s.loss_per_value, s.accuracy
            );
            if let Some(v) = validation {
                line.push_str(&format!(
                    "; held out {:.3}/value (unigram {:.3})",
                    v.nll, v.unigram_nll
                ));
            }
            if args.quiet {
                println!("epoch {}/{}: {line}, {left:.0} s left", s.epoch, s.epochs);
            } else {
                bar.set_position(s.epoch as u64);
                bar.set_message(line);
            }
        },
    )
    .map_err(|e| e.to_string())?;
    bar.finish();
    let report = validated.report;

    let mut provenance = model.provenance().clone();
    provenance.intervals = Some(IntervalProfile::from_values(&corpus.values));
    provenance.corpus_stats = figures;
    provenance
        .training_files
        .extend(train::training_files(&corpus.source));
    model.set_provenance(provenance);
    weights::save_atomic(&model, &args.out).map_err(|e| e.to_string())?;

    if let (Some(first), Some(last)) = (report.epochs.first(), report.epochs.last()) {
        println!(
            "loss {:.3} -> {:.3} (per value {:.3} -> {:.3}), accuracy {:.3} -> {:.3} \
             (always guessing the most frequent value: {:.3})",
            first.loss,
            last.loss,
            first.loss_per_value,
            last.loss_per_value,
            first.accuracy,
            last.accuracy,
            report.baseline_accuracy
        );
    }
    if let Some(v) = &model.provenance().validation {
        println!(
            "held-out values: {:.3} nats per value (guessing by frequency: {:.3}), accuracy \
             {:.3}; kept the weights of epoch {}, where the held-out loss was lowest",
            v.nll, v.unigram_nll, v.accuracy, validated.kept_epoch
        );
    }
    match validated.ended {
        Ended::AllEpochs => {}
        Ended::Patience => println!(
            "stopped after epoch {}: the held-out loss had not improved for {} epochs",
            report.epochs.len(),
            args.patience.unwrap_or(0)
        ),
        Ended::Interrupted => println!(
            "interrupted after epoch {} of {}: the weights written are the best so far (epoch {})",
            report.epochs.len(),
            config.epochs,
            validated.kept_epoch
        ),
    }
    println!(
        "wrote {} ({} values, {} hidden units)",
        args.out.display(),
        model.n_values(),
        model.hidden_size()
    );
    Ok(())
}
