//! MIDI files → measures of melody notes and chords → grammar values.
//!
//! CONTRACT (owned by the corpus helper):
//! - `Corpus { values: Vec<Value>, measures: usize, source: Vec<SourceFile> }`, `distinct()`.
//! - `load_metheny(path) -> Result<Corpus, CorpusError>`: the original's selection.
//! - `load_auto(path, &AutoOptions { melody_track: Option<usize>, chord_track: Option<usize> })`.
//! - Errors name the file and say why.
