//! The musical floor: pitch spelling and intervals (`theory`), the grammar of generated values
//! (`grammar`), and chord progressions (`changes`). Plain Rust; depends on nothing else here.

pub mod changes;
pub mod grammar;
pub mod theory;
