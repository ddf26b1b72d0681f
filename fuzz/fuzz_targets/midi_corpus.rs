#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| jazz_synth::fuzzing::midi_corpus(data));
