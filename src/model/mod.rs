//! The network: the one-layer LSTM with its dense softmax head (`lstm`) and the
//! `jazz-synth/1` weights file it is stored in (`weights`).

pub mod aligned;
pub mod guard;
pub mod lstm;
pub mod weights;
