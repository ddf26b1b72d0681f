//! The model slot: a new model waits until the next beat, the old one leaves through a fixed
//! set of slots so the audio thread never frees it.

use super::*;

/// Models waiting in [`Engine::take_retired`] before the engine would have to
/// drop one on the audio thread.
pub(super) const RETIRED_SLOTS: usize = 4;

impl Engine {
    /// Queue a new model; it is swapped in at the next beat boundary (at
    /// once when the clock is stopped), with zero state and the zero input.
    /// The old one is returned through [`Engine::take_retired`] so the caller
    /// drops it off the audio thread. Never allocates.
    pub fn queue_model(&mut self, model: Box<Model>) {
        if let Some(older) = self.pending.replace(model) {
            self.retire(older);
        }
    }

    /// A model replaced by [`Engine::queue_model`], to drop off the audio thread.
    pub fn take_retired(&mut self) -> Option<Box<Model>> {
        self.retired.iter_mut().find_map(Option::take)
    }

    pub(super) fn install(&mut self, model: Box<Model>) {
        let old = std::mem::replace(&mut self.model, model);
        self.retire(old);
        self.model.reset();
        self.prev_input = None;
        // The old model's value indices mean nothing to the new one.
        self.guard.clear();
    }

    pub(super) fn retire(&mut self, model: Box<Model>) {
        if let Some(slot) = self.retired.iter_mut().find(|s| s.is_none()) {
            *slot = Some(model);
        }
        // All slots full: the caller never collects, and the model is
        // dropped here, on the audio thread, as a last resort.
    }

    pub(super) fn swap_model(&mut self, sample: u32, tick: i64, out: &mut Output) {
        if let Some(model) = self.pending.take() {
            self.all_notes_off(sample, out);
            self.install(model);
            // The new model's phrase starts on this beat.
            self.next_tick = tick;
        }
    }
}
