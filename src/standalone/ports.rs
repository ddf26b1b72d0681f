//! MIDI ports through midir (ALSA on Linux): listing them, choosing one by number or name,
//! opening outputs (a device or a virtual port) and inputs, and noticing a device that goes
//! away.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

/// How a port was asked for did not match the ports there are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortErrorKind {
    NotFound,
    /// Several ports contain the text; their indices.
    Ambiguous(Vec<usize>),
}

/// A port name, part of a name or index that matched no port (or several).
/// Displays the available ports, numbered, so the user can pick one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortError {
    /// What the user asked for.
    pub query: String,
    /// "MIDI output", "JACK MIDI input", ...: what kind of port was wanted.
    pub what: String,
    pub kind: PortErrorKind,
    pub available: Vec<String>,
    /// Extra advice printed after the list (e.g. the ALSA sequencer is missing).
    pub note: Option<String>,
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PortErrorKind::NotFound => writeln!(f, "no {} matches \"{}\".", self.what, self.query)?,
            PortErrorKind::Ambiguous(ix) => writeln!(
                f,
                "\"{}\" matches {} {}s; give more of the name or the number.",
                self.query,
                ix.len(),
                self.what
            )?,
        }
        write!(
            f,
            "{}",
            port_list(&format!("Available {}s", self.what), &self.available)
        )?;
        if let Some(note) = &self.note {
            write!(f, "\n{note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PortError {}

/// "`heading`:\n  0: name\n  1: ..." or "`heading`: none."
pub fn port_list(heading: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!("{heading}: none.");
    }
    let mut s = format!("{heading}:");
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!("\n  {i}: {n}"));
    }
    s
}

/// Picks a port from `names` by index (`"1"`), exact name, or a unique part
/// of a name, case-insensitive (`"fluid"` for `FLUID Synth (1234):Synth input port`).
pub fn choose_port(names: &[String], query: &str, what: &str) -> Result<usize, PortError> {
    let q = query.trim();
    let err = |kind| PortError {
        query: query.to_string(),
        what: what.to_string(),
        kind,
        available: names.to_vec(),
        note: None,
    };
    if let Ok(i) = q.parse::<usize>() {
        if i < names.len() {
            return Ok(i);
        }
    }
    let lower = q.to_lowercase();
    if let Some(i) = names.iter().position(|n| n.to_lowercase() == lower) {
        return Ok(i);
    }
    if lower.is_empty() {
        return Err(err(PortErrorKind::NotFound));
    }
    let hits: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| n.to_lowercase().contains(&lower))
        .map(|(i, _)| i)
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(err(PortErrorKind::NotFound)),
        _ => Err(err(PortErrorKind::Ambiguous(hits))),
    }
}

/// Somewhere MIDI messages go: a midir connection, a test recorder.
pub trait MidiSink {
    /// Sends one complete MIDI message now.
    fn send(&mut self, message: &[u8]) -> Result<(), String>;

    /// Whether the destination still exists. The player asks a few times a
    /// second, between events; it must return at once.
    fn check(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// An ALSA MIDI output, watched from a helper thread: ALSA quietly drops
/// messages for a port that was unplugged, so a failed send alone would
/// never tell the player that its synth is gone.
pub struct PortOutput {
    conn: midir::MidiOutputConnection,
    name: String,
    watch: Option<PortWatch>,
}

struct PortWatch {
    gone: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PortWatch {
    fn start(name: String) -> Option<PortWatch> {
        let watcher = midir::MidiOutput::new("jazz-synth watch").ok()?;
        let gone = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (Arc::clone(&gone), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let present = watcher
                    .ports()
                    .iter()
                    .any(|p| watcher.port_name(p).is_ok_and(|n| n == name));
                if !present {
                    g.store(true, Ordering::SeqCst);
                    return;
                }
                std::thread::park_timeout(Duration::from_millis(250));
            }
        });
        Some(PortWatch {
            gone,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PortWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl PortOutput {
    /// The port's full name (or "virtual port ...").
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl MidiSink for PortOutput {
    fn send(&mut self, message: &[u8]) -> Result<(), String> {
        self.conn.send(message).map_err(|e| {
            format!(
                "the MIDI output \"{}\" stopped taking messages: {e}",
                self.name
            )
        })
    }

    fn check(&mut self) -> Result<(), String> {
        match &self.watch {
            Some(w) if w.gone.load(Ordering::SeqCst) => Err(format!(
                "the MIDI output \"{}\" went away (unplugged or closed)",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

/// Why a MIDI port could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The name matched no port: the user can pick another (exit code 2).
    Port(PortError),
    /// The MIDI system itself failed.
    System(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Port(e) => e.fmt(f),
            OpenError::System(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for OpenError {}

const CLIENT_NAME: &str = "jazz-synth";

fn no_alsa_note(e: &dyn fmt::Display) -> String {
    format!(
        "The ALSA MIDI sequencer is not available here ({e}); this machine may have no sound \
         hardware or the snd-seq kernel module is not loaded.\n\
         Try `--jack` with a running JACK server, or `jazz-synth render --out solo.mid --wav solo.wav`."
    )
}

/// Whether ALSA's sequencer device exists. Asking midir without it works
/// too, but makes libasound print its own error lines to stderr.
fn sequencer_present() -> bool {
    !cfg!(target_os = "linux") || std::path::Path::new("/dev/snd/seq").exists()
}

fn midi_output() -> Result<midir::MidiOutput, String> {
    if !sequencer_present() {
        return Err(no_alsa_note(&"/dev/snd/seq does not exist"));
    }
    midir::MidiOutput::new(CLIENT_NAME).map_err(|e| no_alsa_note(&e))
}

fn midi_input() -> Result<midir::MidiInput, String> {
    if !sequencer_present() {
        return Err(no_alsa_note(&"/dev/snd/seq does not exist"));
    }
    midir::MidiInput::new(CLIENT_NAME).map_err(|e| no_alsa_note(&e))
}

/// Names of the MIDI output ports (ALSA on Linux), in midir's order.
pub fn output_port_names() -> Result<Vec<String>, String> {
    let out = midi_output()?;
    Ok(out
        .ports()
        .iter()
        .map(|p| out.port_name(p).unwrap_or_else(|_| "(unnamed)".into()))
        .collect())
}

/// Names of the MIDI input ports (for `--chords-in`, `--clock-in`).
pub fn input_port_names() -> Result<Vec<String>, String> {
    let inp = midi_input()?;
    Ok(inp
        .ports()
        .iter()
        .map(|p| inp.port_name(p).unwrap_or_else(|_| "(unnamed)".into()))
        .collect())
}

/// Opens the MIDI output port `query` names (index, name or part of a name).
/// Returns the connection and the port's full name.
pub fn open_output(query: &str) -> Result<PortOutput, OpenError> {
    let out = match midi_output() {
        Ok(o) => o,
        Err(note) => {
            return Err(OpenError::Port(PortError {
                query: query.into(),
                what: "MIDI output".into(),
                kind: PortErrorKind::NotFound,
                available: Vec::new(),
                note: Some(note),
            }))
        }
    };
    let ports = out.ports();
    let names: Vec<String> = ports
        .iter()
        .map(|p| out.port_name(p).unwrap_or_else(|_| "(unnamed)".into()))
        .collect();
    let i = choose_port(&names, query, "MIDI output").map_err(OpenError::Port)?;
    let name = names[i].clone();
    let conn = out
        .connect(&ports[i], "jazz-synth out")
        .map_err(|e| OpenError::System(format!("cannot open the MIDI output \"{name}\": {e}")))?;
    let watch = PortWatch::start(name.clone());
    Ok(PortOutput { conn, name, watch })
}

/// Creates a virtual ALSA output port named `jazz-synth` that synths and
/// DAWs can connect to.
pub fn open_virtual() -> Result<PortOutput, OpenError> {
    use midir::os::unix::VirtualOutput;
    let out = midi_output().map_err(OpenError::System)?;
    let conn = out.create_virtual(CLIENT_NAME).map_err(|e| {
        OpenError::System(format!(
            "cannot create the virtual MIDI port \"{CLIENT_NAME}\": {e}"
        ))
    })?;
    // Our own port cannot be unplugged: nothing to watch.
    Ok(PortOutput {
        conn,
        name: format!("virtual port {CLIENT_NAME}"),
        watch: None,
    })
}

/// A short MIDI message with the time it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedMessage {
    pub time: Instant,
    pub len: u8,
    pub bytes: [u8; 3],
}

impl TimedMessage {
    pub fn new(time: Instant, message: &[u8]) -> Self {
        let mut bytes = [0u8; 3];
        let len = message.len().min(3);
        bytes[..len].copy_from_slice(&message[..len]);
        TimedMessage {
            time,
            len: len as u8,
            bytes,
        }
    }

    pub fn message(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Opens a MIDI input port; its messages (up to 3 bytes, SysEx dropped)
/// arrive on the returned channel stamped with their arrival time.
pub fn open_input(
    query: &str,
    what: &str,
) -> Result<(midir::MidiInputConnection<()>, Receiver<TimedMessage>), OpenError> {
    let mut inp = match midi_input() {
        Ok(i) => i,
        Err(note) => {
            return Err(OpenError::Port(PortError {
                query: query.into(),
                what: what.into(),
                kind: PortErrorKind::NotFound,
                available: Vec::new(),
                note: Some(note),
            }))
        }
    };
    // The clock is what --clock-in is for: keep timing messages.
    inp.ignore(midir::Ignore::SysexAndActiveSense);
    let ports = inp.ports();
    let names: Vec<String> = ports
        .iter()
        .map(|p| inp.port_name(p).unwrap_or_else(|_| "(unnamed)".into()))
        .collect();
    let i = choose_port(&names, query, what).map_err(OpenError::Port)?;
    let (tx, rx) = crossbeam_channel::bounded(4096);
    let name = names[i].clone();
    let conn = inp
        .connect(
            &ports[i],
            "jazz-synth in",
            move |_stamp, message, _| {
                if message.first().is_some_and(|&b| b != 0xF0) {
                    // A full queue means the player has stopped reading; drop.
                    let _ = tx.try_send(TimedMessage::new(Instant::now(), message));
                }
            },
            (),
        )
        .map_err(|e| OpenError::System(format!("cannot open the MIDI input \"{name}\": {e}")))?;
    Ok((conn, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "Midi Through:Midi Through Port-0 14:0".into(),
            "FLUID Synth (1234):Synth input port (1234:0) 128:0".into(),
            "USB MIDI Interface:USB MIDI Interface MIDI 1 20:0".into(),
            "USB MIDI Interface:USB MIDI Interface MIDI 2 20:1".into(),
        ]
    }

    #[test]
    fn a_port_is_found_by_index_name_or_part_of_a_name() {
        let n = names();
        assert_eq!(choose_port(&n, "1", "MIDI output"), Ok(1));
        assert_eq!(choose_port(&n, "fluid", "MIDI output"), Ok(1));
        assert_eq!(choose_port(&n, " midi 2 ", "MIDI output"), Ok(3));
        assert_eq!(choose_port(&n, &n[0].to_uppercase(), "MIDI output"), Ok(0));
    }

    #[test]
    fn a_missing_port_lists_the_ports_there_are() {
        let e = choose_port(&names(), "nosuchport", "MIDI output").unwrap_err();
        assert_eq!(e.kind, PortErrorKind::NotFound);
        let text = e.to_string();
        assert!(
            text.starts_with("no MIDI output matches \"nosuchport\"."),
            "{text}"
        );
        assert!(text.contains("  1: FLUID Synth (1234)"), "{text}");
        let e = choose_port(&names(), "7", "MIDI output").unwrap_err();
        assert_eq!(e.kind, PortErrorKind::NotFound);
        assert!(choose_port(&[], "0", "MIDI output")
            .unwrap_err()
            .to_string()
            .contains("none"));
    }

    #[test]
    fn an_ambiguous_part_of_a_name_is_refused() {
        let e = choose_port(&names(), "usb", "MIDI output").unwrap_err();
        assert_eq!(e.kind, PortErrorKind::Ambiguous(vec![2, 3]));
        assert!(e.to_string().contains("matches 2 MIDI outputs"));
    }
}
