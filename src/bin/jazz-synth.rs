//! `jazz-synth`: the standalone player. Plays a generated solo live to a MIDI
//! port or JACK (the default command), renders it to MIDI/WAV (`render`), or
//! prints the model's raw value sequence (`sample`). Argument parsing only;
//! the work is in the library (`live`, `jackio`, `render`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jazz_synth::engine::{Contour, Rhythm, Swing};
use jazz_synth::model::weights;
use jazz_synth::music::quality::compare;
use jazz_synth::standalone::changes;
use jazz_synth::standalone::jackio::{self, JackError, JackOptions};
use jazz_synth::standalone::live::{self, ClockSource, LiveOptions, StopReason};
use jazz_synth::standalone::ports::{self, OpenError};
use jazz_synth::standalone::render::{self, RENDER_BLOCK, RENDER_SAMPLE_RATE};
use jazz_synth::standalone::session::{MusicOptions, Setup};
use jazz_synth::train::lines::{file_line, LineTracks};

/// Exit code for a bad command line or a port that does not exist.
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "jazz-synth",
    version,
    about = "An LSTM jazz improviser: plays a solo over chord changes to a MIDI port or JACK, or renders it",
    long_about = "An LSTM jazz improviser (deepjazz lineage). Without a command it plays live: \
                  to an ALSA MIDI port (--midi-out, --virtual) or through JACK (--jack). With no \
                  output chosen it renders a short solo to solo.mid and solo.wav and shows how \
                  to play live.",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  jazz-synth --list-ports\n  jazz-synth --midi-out fluid --chords \"Dm7 G7 | Cmaj7\"\n  \
                  jazz-synth --jack --midi-out fluidsynth --tempo 140 --bars 32\n  \
                  jazz-synth render --bars 32 --out solo.mid --wav solo.wav\n  jazz-synth sample --steps 50"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    live: LiveArgs,
}

// Parsed once per run: the render variant's size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Render a solo to a MIDI file (tempo, chord and solo tracks) and optionally a WAV file
    Render(RenderArgs),
    /// Print the model's own value sequence (the original's predict_and_sample): index<TAB>value
    Sample(SampleArgs),
    /// Measure a solo in a MIDI file: chord tones, steps, leaps, rests, repeats (see docs/standalone.md)
    Quality(QualityArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum RhythmArg {
    /// One value per beat; the note lasts its value's duration, cut at the next beat
    Beat,
    /// Each value's duration decides when the next one comes (16ths, triplets)
    Phrase,
}

#[derive(Clone, Copy, ValueEnum)]
enum ContourArg {
    /// Pitches follow the intervals of the training melodies; no short loops, no replayed runs
    Learned,
    /// The original deepjazz decoder: any tone of the value's role inside its window
    Original,
}

/// The musical choices shared by live playing and rendering.
#[derive(Args)]
struct MusicArgs {
    /// Weights file (safetensors, from jazz-train) instead of the built-in model
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    weights: Option<PathBuf>,
    /// A built-in model: wjd (the default, learned from the Weimar Jazz Database's 456 solos),
    /// wjd-styles (the same, with styles for --style) or metheny (the original course model,
    /// learned from one Pat Metheny solo)
    #[arg(long, value_name = "NAME", value_parser = ["wjd", "wjd-styles", "metheny"])]
    model: Option<String>,
    /// Random seed: the same seed plays the same solo
    #[arg(long)]
    seed: Option<u64>,
    /// Sampling temperature; 0 always takes the most likely value (the original's argmax)
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
    /// Tempo in quarter notes per minute [default: the lead sheet's (--changes), else 120]
    #[arg(long)]
    tempo: Option<f64>,
    /// Chord changes: bars separated by |, chords in a bar share it, e.g. "Dm7 G7 | Cmaj7"
    #[arg(long, value_name = "CHANGES")]
    chords: Option<String>,
    /// A built-in progression by name or part of it: "ii-V-I", "blues", "autumn", "rhythm", "metheny"
    #[arg(long, value_name = "NAME", conflicts_with = "chords")]
    progression: Option<String>,
    /// Play over a lead sheet: an iReal Pro link or playlist (irealb://, irealbook://, an
    /// exported .html), MusicXML (.musicxml, .xml, .mxl), or a MIDI file's chords (what its
    /// tracks other than the melody sound on each beat)
    #[arg(long, value_name = "FILE|LINK", conflicts_with_all = ["chords", "progression"])]
    changes: Option<String>,
    /// The same as --changes (its older name, for MIDI files)
    #[arg(long, value_name = "FILE.mid", hide = true, conflicts_with_all = ["chords", "progression", "changes"])]
    changes_from: Option<PathBuf>,
    /// With --changes: the song of a playlist to play (its title, or a unique part of it)
    #[arg(long, value_name = "NAME")]
    tune: Option<String>,
    /// Lowest MIDI note of the solo (60 = middle C)
    #[arg(long, value_name = "NOTE")]
    low: Option<u8>,
    /// Highest MIDI note of the solo
    #[arg(long, value_name = "NOTE")]
    high: Option<u8>,
    /// MIDI channel of the solo, 1-16
    #[arg(long)]
    channel: Option<u8>,
    /// Note-on velocity, 1-127
    #[arg(long)]
    velocity: Option<u8>,
    /// Rhythm: the values' own durations (default), or one value per beat
    #[arg(long, value_enum)]
    rhythm: Option<RhythmArg>,
    /// How values become pitches (default: learned)
    #[arg(long, value_enum)]
    contour: Option<ContourArg>,
    /// Time signature: 4/4 (default), 3/4, 6/8, 2/4, ... (or start --chords with it, "3/4 Am | E7")
    #[arg(long)]
    meter: Option<String>,
    /// Trade turns of N bars with the player (2, 4 or 8), the player first: jazz-synth listens
    /// to the call (--call-in, or render --call) and answers
    #[arg(long, value_name = "N")]
    trade: Option<u8>,
    /// Swing: where the off-beat eighths fall, 50 (straight) to 75 percent of the beat, or auto
    /// (as jazz soloists swing at the tempo: about 59 % at 120-200 BPM, lighter when fast)
    #[arg(long, value_name = "PERCENT|auto", value_parser = Swing::parse)]
    swing: Option<Swing>,
    /// Add a rhythm section: walking bass, comping and drums (General MIDI channel 10), each on
    /// its own channel (and track, when rendering)
    #[arg(long)]
    band: bool,
    /// Play in a style the model learned (the default model: traditional, swing, bebop, cool,
    /// hard bop, post-bop, fusion); any (the default) is no style, the model's average voice
    #[arg(long, value_name = "NAME")]
    style: Option<String>,
    /// How far to lean towards --style: a factor from 0 (the average of the model's styles)
    /// through 1 (the style as the model learned it) to 4 (what sets it apart, exaggerated); not
    /// 1 runs the network twice
    #[arg(long, value_name = "G")]
    style_strength: Option<f32>,
    /// Do not print a line per note
    #[arg(long, short)]
    quiet: bool,
}

impl MusicArgs {
    /// The chords of `--changes` (and its tempo, unless --tempo is given), or `--chords` as given.
    fn apply_changes(&self, options: &mut MusicOptions) -> Result<(), Failure> {
        let (flag, source) = match (&self.changes, &self.changes_from) {
            (Some(source), _) => ("--changes", source.clone()),
            (None, Some(path)) => ("--changes-from", path.to_string_lossy().into_owned()),
            (None, None) if self.tune.is_some() => {
                return Err(usage(
                    "--tune picks a song of the playlist given with --changes",
                ))
            }
            (None, None) => return Ok(()),
        };
        let loaded = changes::load(&source, self.tune.as_deref())
            .map_err(|e| usage(format!("{flag}: {e}")))?;
        if !self.quiet {
            println!("changes of {}: {}", loaded.title, loaded.chord_text);
            for note in &loaded.notes {
                println!("  ({note})");
            }
        }
        options.chords = Some(loaded.chord_text);
        options.tempo_bpm = options.tempo_bpm.or(loaded.tempo_bpm);
        Ok(())
    }

    fn options(&self, chords_from_midi: bool) -> MusicOptions {
        MusicOptions {
            weights: self
                .weights
                .clone()
                .or_else(|| self.model.clone().map(PathBuf::from)),
            seed: self.seed,
            temperature: self.temperature,
            tempo_bpm: self.tempo,
            chords: self.chords.clone(),
            progression: self.progression.clone(),
            low: self.low,
            high: self.high,
            channel: self.channel,
            velocity: self.velocity,
            rhythm: self.rhythm.map(|r| match r {
                RhythmArg::Beat => Rhythm::Beat,
                RhythmArg::Phrase => Rhythm::Phrase,
            }),
            contour: self.contour.map(|c| match c {
                ContourArg::Learned => Contour::Learned,
                ContourArg::Original => Contour::Original,
            }),
            meter: self.meter.clone(),
            chords_from_midi,
            trade: self.trade,
            listen: false,
            swing: self.swing,
            band: self.band,
            style: self.style.clone(),
            style_strength: self.style_strength,
        }
    }
}

#[derive(Args)]
struct LiveArgs {
    #[command(flatten)]
    music: MusicArgs,
    /// MIDI output port: number, name or part of a name (see --list-ports). With --jack: a JACK MIDI input port
    #[arg(long, value_name = "PORT")]
    midi_out: Option<String>,
    /// List MIDI ports (ALSA and JACK) and exit
    #[arg(long)]
    list_ports: bool,
    /// Create a virtual ALSA MIDI output port named "jazz-synth" for other programs to connect to
    #[arg(long = "virtual", conflicts_with_all = ["midi_out", "jack"])]
    virtual_port: bool,
    /// Play through JACK: a client "jazz-synth" with a MIDI output port, sample-accurate
    #[arg(long)]
    jack: bool,
    /// With --jack: follow JACK transport (start/stop, position, tempo)
    #[arg(long, requires = "jack")]
    follow_transport: bool,
    /// Take the chords from notes held on this MIDI input port (a keyboard player)
    #[arg(long, value_name = "PORT", conflicts_with_all = ["chords", "progression"])]
    chords_in: Option<String>,
    /// Hear the player's call on this MIDI input port (with --trade, or --listen while soloing).
    /// With --jack: a JACK MIDI output port
    #[arg(long, value_name = "PORT")]
    call_in: Option<String>,
    /// While soloing, hear the notes played on --call-in: they steer the line
    #[arg(long, requires = "call_in", conflicts_with = "trade")]
    listen: bool,
    /// Send MIDI clock (24 per quarter note) with start and stop, so drum machines follow
    #[arg(long)]
    clock_out: bool,
    /// Follow an external MIDI clock on this input port instead of --tempo (not with --jack)
    #[arg(long, value_name = "PORT", conflicts_with = "jack")]
    clock_in: Option<String>,
    /// Stop after this many bars (of --meter; default: play until Ctrl-C)
    #[arg(long)]
    bars: Option<u32>,
}

#[derive(Args)]
struct RenderArgs {
    #[command(flatten)]
    music: MusicArgs,
    /// Number of bars (of --meter; default 32, or two turns per phrase of --call)
    #[arg(long)]
    bars: Option<u32>,
    /// Answer the phrases of this MIDI file: its melody is the player's call, cut into turns of
    /// --trade bars (default 4); the file gets the call on a track of its own
    #[arg(long, value_name = "FILE.mid")]
    call: Option<PathBuf>,
    /// The MIDI file to write (format 1: tempo, chords, solo)
    #[arg(long, value_name = "PATH", default_value = "solo.mid")]
    out: PathBuf,
    /// Also write a WAV file (48 kHz, 16-bit mono) through the preview voice
    #[arg(long, value_name = "PATH")]
    wav: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    /// Weights file instead of the built-in model
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,
    /// Number of values to generate
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// 0 = argmax at every step (the original), higher = more adventurous
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Random seed (used when temperature > 0)
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct QualityArgs {
    /// The MIDI file (a `render` output, or any file with a melody)
    #[arg(value_name = "FILE.mid")]
    file: PathBuf,
    /// Track of the solo, 0-based (default: the track the trainer would take as the melody)
    #[arg(long, value_name = "T")]
    solo_track: Option<usize>,
    /// Track of the chords, 0-based (default: every other track with notes)
    #[arg(long, value_name = "T")]
    chord_track: Option<usize>,
    /// Compare with the training melodies of this weights file ("builtin" for the built-in
    /// model), as measured by jazz-train
    #[arg(long, value_name = "PATH")]
    weights: Option<PathBuf>,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Render(args)) => cmd_render(&args),
        Some(Command::Sample(args)) => cmd_sample(&args),
        Some(Command::Quality(args)) => cmd_quality(&args),
        None => cmd_live(&cli.live),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            eprintln!("jazz-synth: {message}");
            ExitCode::from(code)
        }
    }
}

struct Failure {
    message: String,
    code: u8,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: EXIT_USAGE,
    }
}

fn runtime(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 1,
    }
}

fn cmd_sample(args: &SampleArgs) -> Result<(), Failure> {
    let mut model = weights::resolve(args.weights.as_deref())
        .map_err(|e| usage(format!("cannot use the weights file {e}")))?;
    if !args.temperature.is_finite() || args.temperature < 0.0 {
        return Err(usage(format!(
            "--temperature {}: use 0 or more",
            args.temperature
        )));
    }
    let indices =
        jazz_synth::engine::sample_sequence(&mut model, args.steps, args.temperature, args.seed);
    let mut out = io::stdout().lock();
    for i in indices {
        let _ = writeln!(out, "{i}\t{}", model.vocab()[i]);
    }
    Ok(())
}

fn cmd_quality(args: &QualityArgs) -> Result<(), Failure> {
    let tracks = LineTracks {
        solo: args.solo_track,
        chords: args.chord_track,
    };
    let figures = file_line(&args.file, tracks)
        .map_err(|e| usage(e.to_string()))?
        .figures();
    let corpus = match &args.weights {
        None => None,
        Some(path) => {
            let model = weights::resolve(Some(path))
                .map_err(|e| usage(format!("cannot use the weights file {e}")))?;
            let stats = model.provenance().corpus_stats;
            if stats.is_none() {
                return Err(usage(format!(
                    "{} holds no figures of its training melodies (it was trained before \
                     jazz-train measured them, or by another tool); train it again to compare",
                    path.display()
                )));
            }
            stats
        }
    };
    if args.json {
        let json = match corpus {
            Some(c) => serde_json::json!({ "solo": figures, "corpus": c }),
            None => serde_json::json!(figures),
        };
        let text = serde_json::to_string_pretty(&json).map_err(|e| runtime(e.to_string()))?;
        println!("{text}");
    } else if let Some(c) = corpus {
        print!("{}", compare(&figures, &c, ("solo", "training melodies")));
    } else {
        println!("{}:", args.file.display());
        print!("{figures}");
    }
    Ok(())
}

fn cmd_render(args: &RenderArgs) -> Result<(), Failure> {
    let mut options = args.music.options(false);
    args.music.apply_changes(&mut options)?;
    if args.call.is_some() && options.trade.is_none() {
        options.trade = Some(4);
    }
    let setup = Setup::from_options(&options).map_err(usage)?;
    let (call, call_bars) = match &args.call {
        Some(path) => {
            let turn = u32::from(setup.settings.trade_bars);
            render::read_call(path, turn, setup.beats_per_bar()).map_err(usage)?
        }
        None => (Vec::new(), 32),
    };
    render_files(
        &setup,
        args.bars.unwrap_or(call_bars),
        &call,
        &args.out,
        args.wav.as_deref(),
        !args.music.quiet,
    )
}

fn render_files(
    setup: &Setup,
    bars: u32,
    call: &[render::CallNote],
    mid: &Path,
    wav: Option<&Path>,
    print_notes: bool,
) -> Result<(), Failure> {
    if bars == 0 {
        return Err(usage("--bars must be at least 1"));
    }
    let (timeline, generated) =
        render::render_answering(setup, bars, RENDER_SAMPLE_RATE, RENDER_BLOCK, call);
    if print_notes {
        let mut out = io::stdout().lock();
        for g in &generated {
            let _ = writeln!(out, "{}", setup.note_line(&g.generated, g.position_beats));
        }
    }
    render::write_midi(&timeline, mid).map_err(|e| runtime(e.to_string()))?;
    eprintln!(
        "wrote {}: {bars} bar{} at {} BPM, {} notes (tracks: tempo, chords, solo{}{})",
        mid.display(),
        if bars == 1 { "" } else { "s" },
        setup.tempo_bpm,
        timeline.solo.len(),
        if timeline.call.is_empty() {
            String::new()
        } else {
            format!(", call: {} notes", timeline.call.len())
        },
        timeline
            .band
            .iter()
            .map(|t| format!(
                ", {}: {} notes",
                t.part.name().to_lowercase(),
                t.notes.len()
            ))
            .collect::<String>()
    );
    if let Some(wav) = wav {
        render::write_wav(&timeline, wav).map_err(|e| runtime(e.to_string()))?;
        eprintln!(
            "wrote {}: {:.1} s, {} Hz mono",
            wav.display(),
            timeline.length_samples as f64 / timeline.sample_rate,
            timeline.sample_rate
        );
    }
    Ok(())
}

fn list_ports() {
    match ports::output_port_names() {
        Ok(names) => println!(
            "{}",
            ports::port_list("ALSA MIDI outputs (for --midi-out)", &names)
        ),
        Err(e) => println!("ALSA MIDI: {e}"),
    }
    if let Ok(names) = ports::input_port_names() {
        println!(
            "{}",
            ports::port_list(
                "ALSA MIDI inputs (for --chords-in, --call-in, --clock-in)",
                &names
            )
        );
    }
    println!("{}", jackio::port_listing());
}

fn describe(setup: &Setup) -> String {
    let changes = if setup.custom_changes {
        format!("\"{}\"", setup.progression)
    } else {
        jazz_synth::music::changes::BUILTIN
            .get(setup.settings.progression)
            .map(|(name, _)| name.to_string())
            .unwrap_or_default()
    };
    format!(
        "{} BPM, {changes}, seed {}, temperature {}, swing {}{}{}",
        setup.tempo_bpm,
        setup.settings.seed,
        setup.settings.temperature,
        setup.settings.swing,
        if setup.model.styles().is_empty() {
            String::new()
        } else {
            let style = usize::from(setup.settings.style);
            let strength = setup.settings.style_strength;
            format!(
                ", style {}{}",
                jazz_synth::music::style::name_at(setup.model.styles(), style),
                if style == 0 || strength == 1.0 {
                    String::new()
                } else {
                    format!(" at strength {strength}")
                }
            )
        },
        if setup.band { ", with the band" } else { "" }
    )
}

fn cmd_live(args: &LiveArgs) -> Result<(), Failure> {
    if args.list_ports {
        list_ports();
        return Ok(());
    }
    let mut options = args.music.options(args.chords_in.is_some());
    args.music.apply_changes(&mut options)?;
    options.listen = args.listen;
    if options.trade.is_some() && args.call_in.is_none() {
        return Err(usage(
            "--trade needs the player: name the port they play on with --call-in PORT",
        ));
    }
    let setup = Setup::from_options(&options).map_err(usage)?;
    if args.bars == Some(0) {
        return Err(usage("--bars must be at least 1"));
    }
    let print_notes = !args.music.quiet;

    if !args.jack && !args.virtual_port && args.midi_out.is_none() {
        return no_output_chosen(&setup, args.bars.unwrap_or(8), print_notes);
    }

    let stop = live::install_interrupt_handler().map_err(runtime)?;
    if args.jack {
        let opts = JackOptions {
            connect_out: args.midi_out.clone(),
            chords_from: args.chords_in.clone(),
            call_from: args.call_in.clone(),
            follow_transport: args.follow_transport,
            clock_out: args.clock_out,
            bars: args.bars,
            print_notes,
            ..JackOptions::default()
        };
        eprintln!("jazz-synth → JACK: {}. Ctrl-C stops.", describe(&setup));
        let report =
            jackio::run_jack(&setup, &opts, stop, &mut io::stdout()).map_err(|e| match e {
                JackError::Port(p) => usage(p.to_string()),
                JackError::Server(s) => runtime(s),
            })?;
        let grid = match report.max_beat_error_frames {
            Some(0) => ", every note-on on its beat's frame".to_string(),
            Some(f) => format!(", note-ons up to {f} frames from their beat"),
            None => String::new(),
        };
        eprintln!(
            "{} as {}: {} notes over {} values at {} Hz, {}-frame buffers{grid}{}",
            stop_text(report.reason),
            report.client_name,
            report.notes,
            report.values,
            report.sample_rate,
            report.buffer_size,
            if report.lost_events > 0 {
                format!("; {} events lost (buffer full)", report.lost_events)
            } else {
                String::new()
            }
        );
        eprintln!(
            "longest process cycle {:.0} µs of {:.0} µs{}",
            report.max_cycle_us,
            1e6 * f64::from(report.buffer_size) / f64::from(report.sample_rate),
            if report.skipped_cycles > 0 {
                format!(
                    "; JACK skipped {} cycles (overload): notes due in them were played late, at the start of the next cycle",
                    report.skipped_cycles
                )
            } else {
                String::new()
            }
        );
        return Ok(());
    }

    let mut conn = if args.virtual_port {
        ports::open_virtual().map_err(open_failure)?
    } else {
        ports::open_output(args.midi_out.as_deref().unwrap_or_default()).map_err(open_failure)?
    };
    let target = conn.name().to_string();
    // Kept open for the whole run; dropped (closed) at the end.
    let mut inputs = Vec::new();
    let chords_rx = match &args.chords_in {
        Some(q) => {
            let (c, rx) = ports::open_input(q, "MIDI input").map_err(open_failure)?;
            inputs.push(c);
            Some(rx)
        }
        None => None,
    };
    let call_rx = match &args.call_in {
        Some(q) => {
            let (c, rx) = ports::open_input(q, "MIDI input").map_err(open_failure)?;
            inputs.push(c);
            Some(rx)
        }
        None => None,
    };
    let clock = match &args.clock_in {
        Some(q) => {
            let (c, rx) = ports::open_input(q, "MIDI input").map_err(open_failure)?;
            inputs.push(c);
            ClockSource::External(rx)
        }
        None => ClockSource::Internal,
    };
    let following = matches!(clock, ClockSource::External(_));
    live::try_realtime_priority();
    eprintln!(
        "jazz-synth → {target}: {}{}. Ctrl-C stops.",
        describe(&setup),
        if following {
            " (tempo from --clock-in; waiting for MIDI Start)"
        } else {
            ""
        }
    );
    let opts = LiveOptions {
        bars: args.bars,
        clock_out: args.clock_out,
        print_notes,
        call_in: call_rx,
        ..LiveOptions::default()
    };
    let report = live::run_live(
        &setup,
        &mut conn,
        clock,
        chords_rx,
        &opts,
        stop,
        &mut io::stdout(),
    )
    .map_err(|e| {
        runtime(format!(
            "{e} (all notes off and MIDI stop were sent where possible)"
        ))
    })?;
    drop(inputs);
    let jitter = match report.jitter {
        Some(j) => j.to_string(),
        None => "no notes played".into(),
    };
    eprintln!(
        "{}: {} notes over {} values; {jitter}",
        stop_text(report.reason),
        report.notes,
        report.values
    );
    Ok(())
}

fn stop_text(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Finished => "done",
        StopReason::Interrupted => "stopped",
    }
}

fn open_failure(e: OpenError) -> Failure {
    match e {
        OpenError::Port(p) => {
            let mut message = p.to_string();
            // The same name may be a JACK port: say so.
            if let Some((inputs, _)) = jackio::midi_ports() {
                message.push('\n');
                message.push_str(&ports::port_list(
                    "JACK MIDI inputs (use with --jack --midi-out)",
                    &inputs,
                ));
            }
            usage(message)
        }
        OpenError::System(s) => runtime(s),
    }
}

/// No output was chosen: a new user without MIDI hardware still gets music.
/// Render a short solo next to them and explain how to play live.
fn no_output_chosen(setup: &Setup, bars: u32, print_notes: bool) -> Result<(), Failure> {
    eprintln!(
        "jazz-synth: no MIDI output chosen, so this renders {bars} bar{} to solo.mid and solo.wav instead.",
        if bars == 1 { "" } else { "s" }
    );
    render_files(
        setup,
        bars,
        &[],
        Path::new("solo.mid"),
        Some(Path::new("solo.wav")),
        print_notes,
    )?;
    let mut how = String::from("\nTo play live, pick an output:\n");
    match ports::output_port_names() {
        Ok(names) if !names.is_empty() => {
            how.push_str(&ports::port_list("  ALSA MIDI outputs", &names));
            how.push_str("\n  jazz-synth --midi-out <number or name>\n");
        }
        Ok(_) => how.push_str(
            "  (no ALSA MIDI outputs: start a synth such as fluidsynth, or connect a device)\n",
        ),
        Err(_) => how.push_str("  (no ALSA MIDI sequencer on this machine)\n"),
    }
    how.push_str(
        "  jazz-synth --virtual            a port named \"jazz-synth\" for your DAW or synth\n",
    );
    how.push_str("  jazz-synth --jack --midi-out P  through a running JACK server\n");
    how.push_str("  jazz-synth --list-ports         every port jazz-synth can see");
    eprintln!("{how}");
    Ok(())
}
