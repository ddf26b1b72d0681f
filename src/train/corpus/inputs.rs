//! What the trainer is given: files, folders (searched recursively for MIDI files) and
//! patterns with `*` and `?` in the file name, each optionally followed by its own track choice,
//! `FILE.mid:melody=2,chords=5`, so one run can learn from a mixed collection.

use super::*;

/// File name endings read as MIDI files in a folder (any case): Standard MIDI Files, karaoke
/// files and RIFF-wrapped MIDI.
pub const MIDI_EXTENSIONS: [&str; 5] = ["mid", "midi", "kar", "rmi", "rmid"];

/// One file to learn from, with the tracks it asked for (`FILE:melody=N,chords=M`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub tracks: Option<AutoOptions>,
}

/// The files the trainer's arguments name, in order: a file as given; a folder's MIDI files
/// ([`MIDI_EXTENSIONS`]), recursively, sorted by path; a pattern's matches (`*` any run of
/// characters, `?` one, in the file name), sorted. A `:melody=N,chords=M` suffix (either part
/// may be left out) gives a file its own tracks. An argument that names nothing, a folder or
/// pattern without MIDI files, or a bad suffix is an error that says so.
pub fn expand_inputs(args: &[PathBuf]) -> Result<Vec<Input>, CorpusError> {
    let mut inputs = Vec::new();
    for arg in args {
        let (path, tracks) = split_tracks(arg)?;
        let found = if path.is_dir() {
            let mut files = Vec::new();
            walk(&path, &mut files);
            files.sort();
            if files.is_empty() {
                return Err(CorpusError::file(
                    &path,
                    format!(
                        "is a folder with no MIDI files in it or below it (looked for .{})",
                        MIDI_EXTENSIONS.join(", .")
                    ),
                ));
            }
            files
        } else if path.exists() {
            vec![path]
        } else if is_pattern(&path) {
            let files = matches(&path);
            if files.is_empty() {
                return Err(CorpusError::file(&path, "matches no file"));
            }
            files
        } else {
            return Err(CorpusError::file(&path, "does not exist"));
        };
        inputs.extend(found.into_iter().map(|path| Input { path, tracks }));
    }
    Ok(inputs)
}

/// `FILE:melody=2,chords=5` → (`FILE`, the tracks). A path that exists as written keeps its
/// colon.
fn split_tracks(arg: &Path) -> Result<(PathBuf, Option<AutoOptions>), CorpusError> {
    let text = arg.to_string_lossy();
    let Some((file, spec)) = text.rsplit_once(':') else {
        return Ok((arg.to_path_buf(), None));
    };
    if arg.exists() || !spec.contains('=') {
        return Ok((arg.to_path_buf(), None));
    }
    let mut options = AutoOptions::default();
    for part in spec.split(',') {
        let bad = || {
            CorpusError::file(
                Path::new(file),
                format!(
                    "`:{spec}`: write the file's tracks as `:melody=N`, `:chords=N` or \
                     `:melody=N,chords=M` (0-based track numbers)"
                ),
            )
        };
        let (key, value) = part.split_once('=').ok_or_else(bad)?;
        let n: usize = value.trim().parse().map_err(|_| bad())?;
        match key.trim() {
            "melody" => options.melody_track = Some(n),
            "chords" => options.chord_track = Some(n),
            _ => return Err(bad()),
        }
    }
    Ok((PathBuf::from(file), Some(options)))
}

fn is_midi_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MIDI_EXTENSIONS.iter().any(|m| e.eq_ignore_ascii_case(m)))
}

/// Every MIDI file below `dir`; unreadable folders are passed over (links are not followed,
/// so a link to a parent cannot loop).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, out);
        } else if kind.is_file() && is_midi_name(&path) {
            out.push(path);
        }
    }
}

fn is_pattern(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().contains(['*', '?']))
}

/// The files of the pattern's folder whose names match its last part.
fn matches(pattern: &Path) -> Vec<PathBuf> {
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let wanted: Vec<char> = pattern
        .file_name()
        .map(|n| n.to_string_lossy().chars().collect())
        .unwrap_or_default();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            let name: Vec<char> = e.file_name().to_string_lossy().chars().collect();
            wildcard(&wanted, &name)
        })
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    found
}

/// `*` matches any run of characters, `?` one character.
fn wildcard(pattern: &[char], name: &[char]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some('*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some('?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        let w = |p: &str, n: &str| {
            wildcard(
                &p.chars().collect::<Vec<_>>(),
                &n.chars().collect::<Vec<_>>(),
            )
        };
        assert!(w("*.mid", "tune.mid"));
        assert!(w("t?ne*.mid", "tune 2.mid"));
        assert!(!w("*.mid", "tune.midi"));
        assert!(w("*", ""));
        assert!(!w("?", ""));
    }

    #[test]
    fn a_track_suffix_is_read_and_a_bad_one_is_refused() {
        let (path, tracks) = split_tracks(Path::new("a/b.mid:melody=2,chords=5")).unwrap();
        assert_eq!(path, PathBuf::from("a/b.mid"));
        assert_eq!(
            tracks,
            Some(AutoOptions {
                melody_track: Some(2),
                chord_track: Some(5)
            })
        );
        let (_, tracks) = split_tracks(Path::new("b.mid:chords=1")).unwrap();
        assert_eq!(tracks.unwrap().melody_track, None);
        let err = split_tracks(Path::new("b.mid:tune=1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(":melody=N"), "{err}");
        assert_eq!(
            split_tracks(Path::new("C:/x.mid")).unwrap(),
            (PathBuf::from("C:/x.mid"), None)
        );
    }
}
