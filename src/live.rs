//! The live player: the engine driven by a monotonic clock, its notes sent to
//! a MIDI port through midir. Also what every live front end shares: port
//! selection, Ctrl-C handling and jitter statistics.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

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
        write!(f, "{}", port_list(&self.what, &self.available))?;
        if let Some(note) = &self.note {
            write!(f, "\n{note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PortError {}

/// "Available MIDI outputs:\n  0: name\n..." or a line saying there are none.
pub fn port_list(what: &str, names: &[String]) -> String {
    if names.is_empty() {
        return format!("Available {what}s: none.");
    }
    let mut s = format!("Available {what}s:");
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

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    // A second Ctrl-C while the first is being handled means "now": the
    // clean shutdown is taking too long for the user.
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Installs handlers for SIGINT (Ctrl-C), SIGTERM and SIGHUP that only set a
/// flag, so the player can end every note and send MIDI stop before it
/// exits. Returns the flag.
pub fn install_interrupt_handler() -> Result<&'static AtomicBool, String> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only touches an
        // atomic (async-signal-safe) and an empty mask is valid.
        let ok = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
        };
        if !ok {
            return Err(format!(
                "cannot install the handler for signal {sig}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(&INTERRUPTED)
}

/// The interrupt flag without installing handlers (set by the handlers of
/// [`install_interrupt_handler`]).
pub fn interrupted() -> &'static AtomicBool {
    &INTERRUPTED
}

/// Note-on timing error against the ideal beat times, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterStats {
    pub count: usize,
    pub median_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl JitterStats {
    /// Statistics of `|actual − ideal|` in microseconds; `None` without samples.
    pub fn from_errors_us(errors_us: &[f64]) -> Option<JitterStats> {
        if errors_us.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = errors_us.iter().map(|e| e.abs()).collect();
        v.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value with at least p% of samples at or below it.
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(JitterStats {
            count: v.len(),
            median_us: rank(0.5),
            p99_us: rank(0.99),
            max_us: v[v.len() - 1],
        })
    }
}

impl fmt::Display for JitterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "note-on jitter over {} notes: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.count,
            self.median_us / 1000.0,
            self.p99_us / 1000.0,
            self.max_us / 1000.0
        )
    }
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

    #[test]
    fn jitter_percentiles_use_nearest_rank() {
        let errors: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = JitterStats::from_errors_us(&errors).unwrap();
        assert_eq!(
            (s.count, s.median_us, s.p99_us, s.max_us),
            (100, 50.0, 99.0, 100.0)
        );
        let s = JitterStats::from_errors_us(&[-300.0]).unwrap();
        assert_eq!((s.median_us, s.p99_us), (300.0, 300.0));
        assert!(JitterStats::from_errors_us(&[]).is_none());
    }
}
