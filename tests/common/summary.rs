//! Numbers a test reports to the CI summary. `cargo xtask test` names a file in
//! `JAZZ_SYNTH_SUMMARY`; each report appends one line to it: `<key> <number>` (xtask sums the
//! numbers of a key) or `note <text>` (printed as it is). Outside xtask nothing is written.
#![allow(dead_code)] // Each test binary uses part of it.

use std::io::Write;

/// The variable naming the summary file.
pub const SUMMARY_ENV: &str = "JAZZ_SYNTH_SUMMARY";

fn append(line: &str) {
    let Some(path) = std::env::var_os(SUMMARY_ENV) else {
        return;
    };
    // One short write per line, in append mode: lines from parallel tests do not interleave.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// Adds `value` to the summary's total for `key` (a word without spaces).
pub fn report(key: &str, value: f64) {
    debug_assert!(!key.contains(char::is_whitespace));
    append(&format!("{key} {value}"));
}

/// A line of text for the summary.
pub fn note(text: &str) {
    append(&format!("note {}", text.replace('\n', " ")));
}
