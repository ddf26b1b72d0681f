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
use jazz_synth::train::evaluate::{split_point, train_validated, validate, Ended, Stopping};
use jazz_synth::train::jazz::Split;
use jazz_synth::train::lines::{corpus_lines, joined};
use jazz_synth::train::reference::{EpochClock, JazzCorpus};
use jazz_synth::train::{self, Kernel, TrainConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PresetArg {
    /// The original's selection of original_metheny.mid (Guitar solo over the Piano's chords,
    /// quarter notes 476–548).
    Metheny,
    /// Any MIDI file: the melody track is found automatically (or --melody-track), chords come
    /// from what the other tracks sound on each beat (or --chord-track).
    Auto,
    /// A collection of solos over chords (the shipped WJD model): read as `auto`, but the
    /// network also hears the chord now and next, the position in the bar and the register;
    /// durations on a musical grid, intervals up to an octave, rare values mapped to their
    /// nearest; pitches from a learned pitch model; whole solos held out by file hash.
    Jazz,
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
    /// weights are written either way). Default: never with --preset auto, 3 with --preset jazz.
    #[arg(long)]
    patience: Option<usize>,
    /// Values per window (Tx). Default 30 (the original's); 64 with --preset jazz.
    #[arg(long)]
    tx: Option<usize>,
    /// LSTM hidden units. Default 64 (the original's); 256 with --preset jazz.
    #[arg(long)]
    hidden: Option<usize>,
    /// Stacked LSTM layers, each of --hidden units (the output layer reads the top one).
    /// Default 1 (the original's).
    #[arg(long)]
    layers: Option<usize>,
    /// Adam learning rate. Default 0.01 (the original's); 0.003 with --preset jazz.
    #[arg(long)]
    lr: Option<f64>,
    /// Keras legacy learning-rate decay per batch. Default 0.01 (the original's); 0.0001 with
    /// --preset jazz (whose epochs have thousands of batches).
    #[arg(long)]
    decay: Option<f64>,
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
    /// --preset jazz: share of the solos held out for testing (never trained on, never used to
    /// choose the epoch): `jazz-train evaluate` scores them. Solos are assigned by a hash of
    /// the file's bytes, so every run agrees.
    #[arg(long, default_value_t = 0.2)]
    test: f64,
    /// --preset jazz: values seen fewer times than this in the training solos are mapped to
    /// their nearest value.
    #[arg(long, default_value_t = 3)]
    min_count: usize,
    /// --preset jazz: windows start every this many values (default: half of Tx, so each value
    /// is a target about twice an epoch, after a longer and a shorter history).
    #[arg(long)]
    stride: Option<usize>,
    /// --preset jazz: train without the chord inputs (for comparing with the chord-aware model).
    #[arg(long)]
    no_chords: bool,
    /// --preset jazz: a CSV table of each file's style, with a header naming a `file` and a
    /// `style` column (other columns are ignored, so the WJD's index.csv reads as it is). The
    /// network then hears the style beside the chords, and the weights list the styles, so the
    /// player's style knob offers them. Files the table does not list (or lists with no style)
    /// train as "any".
    #[arg(long, value_name = "CSV")]
    style_from: Option<PathBuf>,
    /// --preset jazz with --style-from: share of the training windows (drawn anew each epoch)
    /// whose style is withheld, so the model also learns the average voice it plays as "any".
    #[arg(long, default_value_t = 0.25)]
    style_dropout: f64,
    /// --preset jazz with --style-from: learn only the styles, on top of WEIGHTS (a --preset
    /// jazz model without styles, trained on the same collection and split). Its network stays
    /// exactly as it is, so "any" plays as WEIGHTS does, and each style is learned from that
    /// style's solos alone as a shift of the network's gates.
    #[arg(long, value_name = "WEIGHTS", conflicts_with_all = ["resume", "no_chords"])]
    style_base: Option<PathBuf>,
    /// --preset jazz: the corpus's name as the weights record it (e.g. "Weimar Jazz Database").
    #[arg(long)]
    corpus_name: Option<String>,
    /// --preset jazz: how to cite the corpus, recorded in the weights.
    #[arg(long)]
    corpus_citation: Option<String>,
    /// Continue training from a weights file jazz-train wrote (after Ctrl-C, or to train
    /// longer): its weights, vocabulary and hidden size are the start; every value of the files
    /// must be in its vocabulary. Adam's moments start afresh.
    #[arg(long, value_name = "WEIGHTS")]
    resume: Option<PathBuf>,
    /// No progress bar; one line per epoch instead.
    #[arg(long)]
    quiet: bool,
    /// After training, write one JSON object here: seconds_per_epoch (the training pass),
    /// heldout_nll (nats per held-out value after the last epoch), each epoch's figures and the
    /// sizes, the keys `benches/keras_reference.py` prints.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("evaluate") {
        let args = EvalArgs::parse_from(std::env::args().skip(1));
        return match evaluate(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("jazz-train evaluate: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    if std::env::args().nth(1).as_deref() == Some("export-dataset") {
        let args = ExportArgs::parse_from(std::env::args().skip(1));
        return match export_dataset(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("jazz-train export-dataset: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    if args.preset == PresetArg::Jazz {
        return match run_jazz(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("jazz-train: {msg}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("jazz-train: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.style_from.is_some() {
        return Err("--style-from only applies to --preset jazz (the chord-aware model)".into());
    }
    if args.preset == PresetArg::Metheny
        && (args.melody_track.is_some() || args.chord_track.is_some())
    {
        return Err("--melody-track and --chord-track only apply to --preset auto".into());
    }
    let preset = match args.preset {
        PresetArg::Metheny => Preset::Metheny,
        PresetArg::Auto | PresetArg::Jazz => Preset::Auto(AutoOptions {
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
        every_window: args.windows.is_none() && args.preset != PresetArg::Metheny,
        threads: args.threads.unwrap_or(match args.preset {
            PresetArg::Metheny => 1,
            _ => default_threads(),
        }),
        tx: args.tx.unwrap_or(defaults.tx),
        hidden: args.hidden.unwrap_or(defaults.hidden),
        layers: args.layers.unwrap_or(defaults.layers),
        lr: args.lr.unwrap_or(defaults.lr),
        decay: args.decay.unwrap_or(defaults.decay),
        epochs: args.epochs,
        batch: args.batch,
        seed: args.seed,
        // The seed setup keeps the original's arithmetic order (its weights bit for bit).
        kernel: match args.preset {
            PresetArg::Metheny => Kernel::Stepwise,
            _ => Kernel::Fused,
        },
        ..TrainConfig::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    check_out_folder(&args.out)?;

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
            config.layers = model.layers();
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
    // Ctrl-C ends training before the next batch and writes the best weights so far.
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
    let mut clock = EpochClock::start();
    let (mut model, validated) = train_validated(
        train_part,
        held_out,
        vocab,
        &config,
        stopping,
        |s, validation| {
            clock.epoch_done(validation.map(|v| v.nll));
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
        "wrote {} ({} values, {} LSTM layer(s) of {} hidden units)",
        args.out.display(),
        model.n_values(),
        model.layers(),
        model.hidden_size()
    );
    if let Some(path) = &args.report {
        // One held-out scoring, timed, so the report's epoch time is the training pass alone.
        let timed = std::time::Instant::now();
        let _ = validate(&mut model, train_part, held_out, config.tx);
        let seconds = if held_out.len() >= 2 {
            timed.elapsed().as_secs_f64()
        } else {
            0.0
        };
        clock
            .report(&config, windows_per_epoch, seconds)
            .write(path)?;
        println!("wrote the report {}", path.display());
    }
    Ok(())
}

/// Fails on an unwritable destination before any time is spent on training.
fn check_out_folder(out: &Path) -> Result<(), String> {
    match out.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            dir.display()
        )),
        _ => Ok(()),
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Peak resident memory of this process so far, in MB (Linux; `None` elsewhere).
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn check_share(name: &str, share: f64) -> Result<(), String> {
    if (0.0..1.0).contains(&share) {
        Ok(())
    } else {
        Err(format!(
            "--{name} {share}: give a share of the solos from 0 to below 1, e.g. 0.1"
        ))
    }
}

/// The split of `--validation` and `--test` (each already checked with [`check_share`]),
/// refused when it leaves almost nothing to train on.
fn jazz_split(validation: f64, test: f64) -> Result<Split, String> {
    if validation + test >= 0.9 {
        return Err(format!(
            "--validation {validation} and --test {test} leave almost nothing to train on"
        ));
    }
    Ok(Split { validation, test })
}

/// `--preset jazz`: the chord-aware model on a collection of solos.
/// The model `--style-base` learns styles on: a chord-aware model without styles, trained with
/// this run's split (so its training solos are this run's).
fn style_base(path: &Path, args: &Args) -> Result<jazz_synth::model::lstm::Model, String> {
    use jazz_synth::music::conditioning::COND_SIZE;
    let shown = path.display();
    if args.style_from.is_none() {
        return Err(format!(
            "--style-base {shown}: give the styles to learn with --style-from TABLE.csv"
        ));
    }
    let model = weights::load_file(path)
        .map_err(|e| format!("--style-base: cannot use the weights file {e}"))?;
    if !model.styles().is_empty() {
        return Err(format!(
            "--style-base {shown}: it already has styles ({}); give the model without styles it \
             was made from",
            model.styles().join(", ")
        ));
    }
    if model.cond_size() != COND_SIZE {
        return Err(format!(
            "--style-base {shown}: it does not hear the chords (train it with --preset jazz, \
             without --no-chords)"
        ));
    }
    match jazz_synth::train::jazz::Split::recorded_in(&model) {
        Some(split) if split.validation == args.validation && split.test == args.test => Ok(model),
        Some(split) => Err(format!(
            "--style-base {shown}: it was trained with --validation {} --test {}; give the same \
             shares, so the solos it held out stay held out",
            split.validation, split.test
        )),
        None => Err(format!(
            "--style-base {shown}: it records no training split (train it with --preset jazz)"
        )),
    }
}

fn run_jazz(args: &Args) -> Result<(), String> {
    use jazz_synth::train::jazz::{self, Encoded, JazzVocab, Part, SplitCorpus};
    check_share("validation", args.validation)?;
    check_share("test", args.test)?;
    if !(0.0..1.0).contains(&args.style_dropout) {
        return Err(format!(
            "--style-dropout {}: give a share from 0 up to (not including) 1, e.g. 0.25",
            args.style_dropout
        ));
    }
    if args.no_chords && args.style_from.is_some() {
        return Err("--style-from needs the chord inputs: leave out --no-chords".into());
    }
    let style_table = match &args.style_from {
        Some(path) => Some(jazz_synth::train::styles::StyleTable::read(path)?),
        None => None,
    };
    let split = jazz_split(args.validation, args.test)?;
    let resume = match &args.resume {
        Some(path) => {
            let model = weights::load_file(path)
                .map_err(|e| format!("--resume: cannot use the weights file {e}"))?;
            if (model.cond_size() > 0) == args.no_chords {
                return Err(format!(
                    "--resume: {} was trained {} the chord inputs; resume it {} --no-chords",
                    path.display(),
                    if args.no_chords { "with" } else { "without" },
                    if args.no_chords { "without" } else { "with" }
                ));
            }
            Some(model)
        }
        None => None,
    };
    let base = match &args.style_base {
        Some(path) => Some(style_base(path, args)?),
        None => None,
    };
    let resume = resume.or(base);
    if args.patience == Some(0) {
        return Err(
            "--patience 0: give the epochs to wait for a better held-out loss, 1 or more".into(),
        );
    }
    let tx = args.tx.unwrap_or(64);
    let mut config = TrainConfig {
        windows: args.windows.unwrap_or(60),
        every_window: args.windows.is_none(),
        stride: args.stride.unwrap_or((tx / 2).max(1)),
        threads: args.threads.unwrap_or_else(default_threads),
        tx,
        hidden: args.hidden.unwrap_or(256),
        layers: args.layers.unwrap_or(1),
        lr: args.lr.unwrap_or(0.003),
        decay: args.decay.unwrap_or(0.0001),
        epochs: args.epochs,
        batch: args.batch,
        seed: args.seed,
        kernel: Kernel::Fused,
        ..TrainConfig::default()
    };
    if let Some(model) = &resume {
        // The file's network and vocabulary are the start; Adam's moments start afresh.
        config.hidden = model.hidden_size();
        config.layers = model.layers();
        config.start_from = Some(model.params().clone());
        config.start_cond = model.conditioning().map(|c| c.kernel.clone());
        config.start_style_dense = model
            .conditioning()
            .map(|c| c.style_dense.clone())
            .filter(|d| !d.is_empty());
        println!(
            "{} {}: {} values, {} LSTM layer(s) of {} hidden units; Adam's moments \
             start afresh",
            if args.style_base.is_some() {
                "learning styles on"
            } else {
                "resuming from"
            },
            args.resume
                .as_deref()
                .or(args.style_base.as_deref())
                .unwrap_or(Path::new(""))
                .display(),
            model.n_values(),
            model.layers(),
            model.hidden_size()
        );
    }
    config.validate().map_err(|e| e.to_string())?;
    check_out_folder(&args.out)?;
    let inputs = corpus::expand_inputs(&args.files).map_err(|e| e.to_string())?;
    let options = AutoOptions {
        melody_track: args.melody_track,
        chord_track: args.chord_track,
    };
    let collection = SplitCorpus::read(&inputs, &options, split);
    let (solos, errors) = (&collection.solos, &collection.skipped);
    for solo in solos {
        let part = collection.part_of(solo);
        println!(
            "{}: {} ({} notes and rests, {}; {})",
            file_name(&solo.path),
            solo.meter,
            solo.notes.len(),
            match part {
                Part::Train => "training",
                Part::Validation => "validation",
                Part::Test => "test, held out",
            },
            solo.tracks
        );
    }
    for e in errors {
        println!("skipped {e}");
    }
    let train_solos = collection.training()?;
    let (valid_solos, test_solos) = (
        collection.solos_of(Part::Validation),
        collection.solos_of(Part::Test),
    );
    // Resuming keeps the file's vocabulary: values it never learned map to their nearest.
    let vocab = match &resume {
        Some(model) => JazzVocab::from_values(model.vocab().to_vec()),
        None => JazzVocab::build(&train_solos, args.min_count),
    };
    // Styles: the training solos' (in the model's order); a held-out solo in a style no
    // training solo has is heard as "any".
    let train_paths: Vec<&Path> = train_solos.iter().map(|s| s.path.as_path()).collect();
    let (styles, train_styles) = match &style_table {
        Some(table) => jazz_synth::train::styles::assign(table, &train_paths),
        None => (Vec::new(), Vec::new()),
    };
    if args.style_base.is_some() {
        if styles.is_empty() {
            return Err(format!(
                "--style-base: no style of the --style-from table has {} or more training solos, \
                 so there is no style to learn",
                jazz_synth::train::styles::MIN_SOLOS
            ));
        }
        // The base's conditioning kernel, then a zero row per style: before training, every
        // style plays exactly as "any".
        let base_cond = config.start_cond.take().unwrap_or_default();
        let mut cond = base_cond;
        cond.resize(cond.len() + styles.len() * 4 * config.hidden, 0.0);
        config.start_cond = Some(cond);
        config.style_only = true;
    } else if let Some(model) = &resume {
        if model.styles() != styles.as_slice() {
            return Err(format!(
                "--resume: {} learned the styles [{}]; this run's training solos have [{}] \
                 (give the same --style-from table)",
                args.resume.as_deref().unwrap_or(Path::new("")).display(),
                model.styles().join(", "),
                styles.join(", ")
            ));
        }
    }
    let knob_of = |part: &[&corpus::Solo]| -> Vec<usize> {
        part.iter()
            .map(|s| match &style_table {
                Some(t) => t
                    .style_of(&s.path)
                    .and_then(|x| styles.iter().position(|y| y == x))
                    .map_or(0, |k| k + 1),
                None => 0,
            })
            .collect()
    };
    let (valid_styles, test_styles) = (knob_of(&valid_solos), knob_of(&test_solos));
    let train = Encoded::of_styled(&train_solos, &vocab, &styles, &train_styles);
    let valid = Encoded::of_styled(&valid_solos, &vocab, &styles, &valid_styles);
    let test = Encoded::of_styled(&test_solos, &vocab, &styles, &test_styles);
    let mut style_counts = serde_json::Map::new();
    if let Some(table) = &style_table {
        let count = |of: &[usize], k: usize| of.iter().filter(|&&x| x == k).count();
        for k in 0..=styles.len() {
            let name = jazz_synth::music::style::name_at(&styles, k);
            style_counts.insert(
                name.to_string(),
                serde_json::json!({"train": count(&train_styles, k),
                                   "validation": count(&valid_styles, k),
                                   "test": count(&test_styles, k)}),
            );
            println!(
                "style {name}: {} training, {} validation, {} test solos",
                count(&train_styles, k),
                count(&valid_styles, k),
                count(&test_styles, k)
            );
        }
        let unlisted = solos.iter().filter(|s| !table.lists(&s.path)).count();
        println!(
            "styles: {} of the table's {} files read; {unlisted} file(s) read are not in it \
             (they train as any); {}",
            solos.iter().filter(|s| table.lists(&s.path)).count(),
            table.len(),
            if args.style_base.is_some() {
                "only the style weights learn; any is the base".to_string()
            } else {
                format!(
                    "{:.0} % of the training windows each epoch hear no style",
                    100.0 * args.style_dropout
                )
            }
        );
        let mut rare: Vec<&str> = train_solos
            .iter()
            .filter_map(|s| table.style_of(&s.path))
            .filter(|x| !styles.iter().any(|y| y == x))
            .collect();
        rare.sort_unstable();
        rare.dedup();
        if !rare.is_empty() {
            println!(
                "styles with fewer than {} training solos train as any: {}",
                jazz_synth::train::styles::MIN_SOLOS,
                rare.join(", ")
            );
        }
    }
    // With --style-base "any" is the base itself, so no window needs its style withheld.
    config.style_dropout = if styles.is_empty() || args.style_base.is_some() {
        0.0
    } else {
        args.style_dropout
    };
    let raw_distinct: std::collections::HashSet<String> = train_solos
        .iter()
        .flat_map(|s| s.notes.iter().map(|n| n.value.to_string()))
        .collect();
    let share = |e: &Encoded| 100.0 * e.mapped as f64 / e.indices.len().max(1) as f64;
    println!(
        "corpus: {} file(s) read, {} skipped; solos for training {}, validation {}, test {} \
         (by file hash)",
        solos.len(),
        errors.len(),
        train_solos.len(),
        valid_solos.len(),
        test_solos.len()
    );
    println!(
        "values: {} for training, {} validation, {} test; {} distinct in training, {} kept \
         (seen at least {} times); mapped to their nearest: {:.2} % of training, {:.2} % of \
         validation, {:.2} % of test values",
        train.indices.len(),
        valid.indices.len(),
        test.indices.len(),
        raw_distinct.len(),
        vocab.len(),
        args.min_count,
        share(&train),
        share(&valid),
        share(&test)
    );
    let pitch_model = jazz::learn_pitch_model(&train_solos, &vocab);
    let windows = if config.every_window {
        train
            .indices
            .len()
            .saturating_sub(config.tx)
            .div_ceil(config.stride.max(1))
    } else {
        config.windows
    };
    println!(
        "network: {} values in, {} conditioning inputs{}, {} LSTM layer(s) of {} hidden units, \
         {} windows of {} values an epoch, {} thread(s)",
        vocab.len(),
        if args.no_chords { 0 } else { train.width },
        if args.no_chords { " (--no-chords)" } else { "" },
        config.layers,
        config.hidden,
        windows,
        config.tx,
        config.threads
    );
    let interrupt = install_interrupt_handler().map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let mut clock = EpochClock::start();
    let trained = jazz::train_jazz(
        &train,
        &valid,
        &vocab,
        &config,
        !args.no_chords,
        Stopping {
            patience: Some(args.patience.unwrap_or(3)),
            stop: Some(interrupt),
        },
        |s, v| {
            clock.epoch_done(v.map(|(nll, _)| nll));
            let seconds = started.elapsed().as_secs_f64().max(1e-9);
            let per_second = (s.epoch * windows) as f64 / seconds;
            let left = seconds / s.epoch as f64 * (s.epochs - s.epoch) as f64;
            let held = v
                .map(|(nll, acc)| format!("; validation {nll:.3}/value, accuracy {acc:.3}"))
                .unwrap_or_default();
            println!(
                "epoch {}/{}: training {:.3}/value, accuracy {:.3}{held}; {per_second:.0} \
                 windows/s, {:.0} s so far, at most {left:.0} s left, peak memory {:.0} MB",
                s.epoch,
                s.epochs,
                s.loss_per_value,
                s.accuracy,
                seconds,
                peak_memory_mb().unwrap_or(f64::NAN)
            );
        },
    )
    .map_err(|e| e.to_string())?;
    let mut model = trained.model;
    let mut provenance = model.provenance().clone();
    // The temperature at which a chord-aware model's renders match its corpus's figures (chord
    // tones, steps, intervals, rests: measured on the WJD's held-out solos); the standalone
    // player plays at it unless told otherwise.
    provenance
        .hyperparameters
        .insert("play_temperature".into(), 1.0.into());
    provenance.pitch_model = Some(pitch_model);
    provenance.intervals = Some(IntervalProfile::from_values(
        &train_solos
            .iter()
            .flat_map(|s| s.notes.iter().map(|n| n.value))
            .collect::<Vec<_>>(),
    ));
    provenance.training_files = train_solos
        .iter()
        .map(|s| jazz_synth::model::lstm::TrainingFile {
            name: file_name(&s.path),
            sha256: s.sha256.clone(),
            tracks: Some(s.tracks.clone()),
        })
        .collect();
    provenance.corpus = Some(serde_json::json!({
        "name": args.corpus_name.clone().unwrap_or_else(|| format!("{} MIDI files", solos.len())),
        "citation": args.corpus_citation,
        "files_read": solos.len(),
        "files_skipped": errors.len(),
        "split": {"validation": split.validation, "test": split.test,
                  "method": "first 64 bits of each file's SHA-256 as a fraction of 2^64: below test = test, below test + validation = validation",
                  "solos": {"train": train_solos.len(), "validation": valid_solos.len(), "test": test_solos.len()}},
        "values": {"train": train.indices.len(), "distinct": raw_distinct.len(), "vocabulary": vocab.len(),
                   "min_count": args.min_count, "mapped_train": train.mapped, "mapped_validation": valid.mapped},
        "conditioning": !args.no_chords,
        "styles": (!styles.is_empty()).then_some(serde_json::Value::Object(style_counts)),
        "seconds": started.elapsed().as_secs_f64().round(),
    }));
    model.set_provenance(provenance);
    // The held-out test solos, scored once at the end (as `jazz-train evaluate` does).
    if !test_solos.is_empty() {
        let seqs: Vec<&[usize]> = (0..train.solos()).map(|k| train.solo(k)).collect();
        let scores = jazz::score(&mut model, &test_solos, &seqs)?;
        println!(
            "test solos ({}, {} notes and rests): {:.3} nats per value (Kneser-Ney trigram \
             {:.3}); {:.3} nats per note = pitch {:.3} (perplexity {:.2}) + length {:.3} \
             (perplexity {:.2})",
            scores.files,
            scores.notes,
            scores.nll_value,
            scores.nll_value_trigram.unwrap_or(f64::NAN),
            scores.nll_note,
            scores.nll_note_pitch,
            scores.ppl_pitch,
            scores.nll_note_duration,
            scores.ppl_duration
        );
        let mut provenance = model.provenance().clone();
        if !styles.is_empty() {
            let styled = jazz::score_styled(&mut model, &test_solos, &test_styles, &[])?;
            println!(
                "test solos heard in their own styles: {:.3} nats per value, {:.3} per note \
                 (with any: {:.3}, {:.3})",
                styled.nll_value, styled.nll_note, scores.nll_value, scores.nll_note
            );
            if let Some(serde_json::Value::Object(corpus)) = provenance.corpus.as_mut() {
                corpus.insert(
                    "test_scores_true_style".into(),
                    serde_json::to_value(&styled).map_err(|e| e.to_string())?,
                );
            }
        }
        if let Some(serde_json::Value::Object(corpus)) = provenance.corpus.as_mut() {
            corpus.insert(
                "test_scores".into(),
                serde_json::to_value(&scores).map_err(|e| e.to_string())?,
            );
        }
        model.set_provenance(provenance);
    }
    weights::save_atomic(&model, &args.out).map_err(|e| e.to_string())?;
    if let Some(v) = &model.provenance().validation {
        println!(
            "validation: {:.3} nats per value (unigram {:.3}), accuracy {:.3}; kept epoch {}",
            v.nll, v.unigram_nll, v.accuracy, trained.kept_epoch
        );
    }
    match trained.ended {
        Ended::AllEpochs => {}
        Ended::Patience => println!(
            "stopped after epoch {}: the validation loss had not improved for {} epochs",
            trained.epochs.len(),
            args.patience.unwrap_or(3)
        ),
        Ended::Interrupted => println!(
            "interrupted after epoch {}: the weights written are the best so far (epoch {})",
            trained.epochs.len(),
            trained.kept_epoch
        ),
    }
    println!(
        "wrote {} ({} values, {} LSTM layer(s) of {} hidden units) in {:.0} s, peak memory \
         {:.0} MB; score the test solos with: jazz-train evaluate --weights {} FILES",
        args.out.display(),
        model.n_values(),
        model.layers(),
        model.hidden_size(),
        started.elapsed().as_secs_f64(),
        peak_memory_mb().unwrap_or(f64::NAN),
        args.out.display()
    );
    if let Some(path) = &args.report {
        // One held-out scoring, timed, so the report's epoch time is the training pass alone.
        let timed = std::time::Instant::now();
        let _ = jazz::value_nll(&mut model, &valid);
        let seconds = if valid.indices.len() >= 2 {
            timed.elapsed().as_secs_f64()
        } else {
            0.0
        };
        clock.report(&config, windows, seconds).write(path)?;
        println!("wrote the report {}", path.display());
    }
    Ok(())
}

/// Which held-out part `evaluate` scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PartArg {
    Test,
    Validation,
    /// Every file given that the model did not train on.
    Unseen,
}

/// Score a chord-aware model on solos it never trained on.
#[derive(Parser, Debug)]
#[command(name = "jazz-train evaluate")]
struct EvalArgs {
    /// The weights to score (a file `jazz-train --preset jazz` wrote).
    #[arg(long)]
    weights: PathBuf,
    /// The collection (files, folders, patterns). The solos of the model's test split (by file
    /// hash, as training assigned them) are scored; the files it trained on fit the unigram
    /// and trigram baselines.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Which solos to score.
    #[arg(long, value_enum, default_value_t = PartArg::Test)]
    split: PartArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// A CSV table of each file's style (as `jazz-train --style-from`): the held-out solos are
    /// also scored per style, heard in their own style and with the style withheld ("any").
    #[arg(long, value_name = "CSV")]
    style_from: Option<PathBuf>,
}

/// One style's held-out figures: its solos heard in their own style and as "any".
#[derive(serde::Serialize)]
struct StyleScores {
    files: usize,
    notes: usize,
    /// `None` when the model did not learn the style (its solos are heard as "any" only).
    nll_note_style: Option<f64>,
    nll_note_any: f64,
    nll_value_style: Option<f64>,
    nll_value_any: f64,
}

/// The scored solos grouped by their style in `table` (unlisted or empty = "any"), each
/// scored twice; the groups in the model's style order, then the styles it does not know.
fn per_style(
    model: &mut jazz_synth::model::lstm::Model,
    scored: &[&corpus::Solo],
    table: &jazz_synth::train::styles::StyleTable,
) -> Result<Vec<(String, StyleScores)>, String> {
    use jazz_synth::music::style;
    use jazz_synth::train::jazz;
    let styles = model.styles().to_vec();
    let name_of = |s: &corpus::Solo| table.style_of(&s.path).unwrap_or(style::ANY).to_string();
    let mut names: Vec<String> = style::ordered(
        scored
            .iter()
            .filter_map(|s| table.style_of(&s.path))
            .collect::<Vec<_>>(),
    );
    if scored.iter().any(|s| table.style_of(&s.path).is_none()) {
        names.push(style::ANY.to_string());
    }
    let mut out = Vec::new();
    for name in names {
        let group: Vec<&corpus::Solo> = scored
            .iter()
            .copied()
            .filter(|s| name_of(s) == name)
            .collect();
        let any = jazz::score(model, &group, &[])?;
        let own = match styles.iter().position(|s| *s == name) {
            Some(k) => Some(jazz::score_styled(
                model,
                &group,
                &vec![k + 1; group.len()],
                &[],
            )?),
            None => None,
        };
        out.push((
            name,
            StyleScores {
                files: any.files,
                notes: any.notes,
                nll_note_style: own.as_ref().map(|s| s.nll_note),
                nll_note_any: any.nll_note,
                nll_value_style: own.as_ref().map(|s| s.nll_value),
                nll_value_any: any.nll_value,
            },
        ));
    }
    Ok(out)
}

fn evaluate(args: &EvalArgs) -> Result<(), String> {
    use jazz_synth::train::jazz::{self, Encoded, JazzVocab, Part};
    let table = match &args.style_from {
        Some(path) => Some(jazz_synth::train::styles::StyleTable::read(path)?),
        None => None,
    };
    let mut model = weights::load_file(&args.weights).map_err(|e| e.to_string())?;
    let provenance = model.provenance().clone();
    let split = Split::recorded_in(&model);
    let trained: std::collections::HashSet<&str> = provenance
        .training_files
        .iter()
        .map(|f| f.sha256.as_str())
        .collect();
    let inputs = corpus::expand_inputs(&args.files).map_err(|e| e.to_string())?;
    let (solos, errors) = corpus::load_solos(&inputs, &AutoOptions::default());
    let wanted = |s: &corpus::Solo| {
        if trained.contains(s.sha256.as_str()) {
            return false;
        }
        match (args.split, split) {
            (PartArg::Unseen, _) => true,
            (PartArg::Test, Some(sp)) => sp.part(&s.sha256) == Part::Test,
            (PartArg::Validation, Some(sp)) => sp.part(&s.sha256) == Part::Validation,
            (_, None) => true,
        }
    };
    let scored: Vec<&corpus::Solo> = solos.iter().filter(|s| wanted(s)).collect();
    let fitting: Vec<&corpus::Solo> = solos
        .iter()
        .filter(|s| trained.contains(s.sha256.as_str()))
        .collect();
    if scored.is_empty() {
        return Err(format!(
            "none of the {} solos read is held out from this model ({} are its training \
             solos{}); give the collection it was trained on, or --split unseen with other files",
            solos.len(),
            fitting.len(),
            if split.is_some() {
                ", the rest are not in the chosen split"
            } else {
                ""
            }
        ));
    }
    let vocab = JazzVocab::from_values(model.vocab().to_vec());
    let fit = Encoded::of(&fitting, &vocab);
    let fit_seqs: Vec<&[usize]> = (0..fit.solos()).map(|k| fit.solo(k)).collect();
    let scores = jazz::score(&mut model, &scored, &fit_seqs)?;
    let styled = match &table {
        Some(t) => Some(per_style(&mut model, &scored, t)?),
        None => None,
    };
    let skipped: Vec<serde_json::Value> = errors
        .iter()
        .map(|e| match e {
            corpus::CorpusError::File { path, reason } => {
                serde_json::json!({"file": file_name(path), "reason": reason})
            }
            other => serde_json::json!({"file": null, "reason": other.to_string()}),
        })
        .collect();
    if args.json {
        let mut v = serde_json::to_value(&scores).map_err(|e| e.to_string())?;
        if let Some(map) = v.as_object_mut() {
            map.insert("skipped".into(), serde_json::Value::Array(skipped));
            map.insert("baseline_files".into(), fitting.len().into());
            if let Some(styled) = &styled {
                let mut by = serde_json::Map::new();
                for (name, s) in styled {
                    by.insert(
                        name.clone(),
                        serde_json::to_value(s).map_err(|e| e.to_string())?,
                    );
                }
                map.insert("styles".into(), serde_json::Value::Object(by));
            }
        }
        println!("{v}");
        return Ok(());
    }
    let opt = |x: Option<f64>| {
        x.map_or("n/a (no training files given)".to_string(), |x| {
            format!("{x:.3}")
        })
    };
    println!(
        "{} solos scored ({} notes and rests); baselines fitted on {} training solos",
        scores.files,
        scores.notes,
        fitting.len()
    );
    println!(
        "per value: {:.3} nats (perplexity {:.1}), top-1 {:.1} %; unigram {}, Kneser-Ney \
         trigram {}",
        scores.nll_value,
        scores.ppl_value,
        100.0 * scores.acc_value,
        opt(scores.nll_value_unigram),
        opt(scores.nll_value_trigram)
    );
    println!(
        "per note (pitch or rest, and length on a 1/24-beat grid): {:.3} nats = pitch {:.3} \
         (perplexity {:.2}, top-1 {:.1} %) + length {:.3} (perplexity {:.2}, top-1 {:.1} %); \
         trigram in place of the network {}",
        scores.nll_note,
        scores.nll_note_pitch,
        scores.ppl_pitch,
        100.0 * scores.acc_pitch,
        scores.nll_note_duration,
        scores.ppl_duration,
        100.0 * scores.acc_duration,
        opt(scores.nll_note_trigram)
    );
    println!(
        "values not in the vocabulary (scored as their nearest): {:.2} %",
        100.0 * scores.fallback_share
    );
    if !model.styles().is_empty() {
        println!(
            "the figures above hear every solo as \"any\" (the model knows {})",
            jazz_synth::music::style::choices(model.styles())
        );
    }
    for (name, s) in styled.iter().flatten() {
        let own = match (s.nll_note_style, s.nll_value_style) {
            (Some(n), Some(v)) => format!(
                "{n:.3} nats per note ({v:.3} per value) in its style, {:+.3} against any",
                n - s.nll_note_any
            ),
            _ => "not a style of this model".to_string(),
        };
        println!(
            "style {name}: {} solos, {} notes and rests: {own}; any {:.3} per note ({:.3} per \
             value)",
            s.files, s.notes, s.nll_note_any, s.nll_value_any
        );
    }
    for e in &errors {
        println!("skipped {e}");
    }
    Ok(())
}

/// Write a collection as `--preset jazz` training reads it (the same split by file hash, the
/// same vocabulary, the same conditioning), for a reference run in another framework
/// (`benches/keras_reference.py`). The format is described in `jazz_synth::train::reference`.
#[derive(Parser, Debug)]
#[command(name = "jazz-train export-dataset")]
struct ExportArgs {
    /// The collection (files, folders, patterns), as given to `jazz-train --preset jazz`.
    #[arg(required = true, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// Where to write the dataset. Written atomically.
    #[arg(long, short)]
    out: PathBuf,
    /// Share of the solos held out for validation (as training's --validation).
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Share of the solos held out for testing (as training's --test).
    #[arg(long, default_value_t = 0.2)]
    test: f64,
    /// Values seen fewer times than this in the training solos go to their nearest value.
    #[arg(long, default_value_t = 3)]
    min_count: usize,
    /// Zero-based MIDI track index of the melody.
    #[arg(long)]
    melody_track: Option<usize>,
    /// Zero-based MIDI track index to take chords from.
    #[arg(long)]
    chord_track: Option<usize>,
}

fn export_dataset(args: &ExportArgs) -> Result<(), String> {
    use jazz_synth::train::reference::{part_name, PARTS};
    check_share("validation", args.validation)?;
    check_share("test", args.test)?;
    let split = jazz_split(args.validation, args.test)?;
    check_out_folder(&args.out)?;
    let inputs = corpus::expand_inputs(&args.files).map_err(|e| e.to_string())?;
    let options = AutoOptions {
        melody_track: args.melody_track,
        chord_track: args.chord_track,
    };
    let data = JazzCorpus::read(&inputs, &options, split, args.min_count)?;
    data.write_dataset(&args.out)?;
    for e in &data.corpus.skipped {
        println!("skipped {e}");
    }
    let parts: Vec<String> = PARTS
        .iter()
        .map(|&p| {
            format!(
                "{} {} solos ({} values)",
                part_name(p),
                data.corpus.solos_of(p).len(),
                data.encoded(p).indices.len()
            )
        })
        .collect();
    println!(
        "wrote {}: {}; {} values in the vocabulary",
        args.out.display(),
        parts.join(", "),
        data.vocab.len()
    );
    Ok(())
}
