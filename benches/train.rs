// Placeholder until the owning module lands; replaced by real criterion benches.
fn main() {}
