#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs: the real Metheny MIDI file, the shipped weights,
# the saved regression inputs, grammar values, chord charts and saved plugin states.
set -euo pipefail
cd "$(dirname "$0")"
for t in midi_corpus weights_file grammar_value chord_text saved_state; do
  mkdir -p "corpus/$t"
  cp regressions/$t/* "corpus/$t/" 2>/dev/null || true
done
cp ../../shared/data/original_metheny.mid corpus/midi_corpus/
cp ../weights/metheny.safetensors corpus/weights_file/
for v in 'C,0.250' 'S,0.500,<m3,P-4>' 'R,1.000' 'A,0.333,<M-2,m-6>' 'X,0.125,<A4,d5>' 'C,1.500,<M9,P-11>'; do
  printf '%s' "$v" > "corpus/grammar_value/$(printf '%s' "$v" | sha1sum | cut -c1-12)"
done
i=0
for c in $'\x04Dm7 G7 | Cmaj7 | %' $'\x04F7 | Bb7 | F7 | % | Bb7 | Bdim7 | F7/C | D7b9 | Gm7 | C7 | F7 D7 | Gm7 C7' \
         $'\x03Cm7(b5) | F7alt | Bbmaj7#11 | Eb6/9' $'\x04Am(maj7) | Ebø | Gsus4 | C+ | F#m7b5 B7b9'; do
  printf '%s' "$c" > "corpus/chord_text/chart$i"; i=$((i+1))
done
printf '%s' '{"version":"0.1.0","params":{"seed":{"i32":1234},"temperature":{"f32":0.8},"rhythm":{"string":"beat"},"progression":{"string":"blues-f"},"bypass":{"bool":false}},"fields":{"weights-path":"\"/tmp/x.safetensors\"","state-format":"1"}}' > corpus/saved_state/session
printf '%s' '{"version":"9.0.0","params":{},"fields":{"state-format":"2"}}' > corpus/saved_state/future
