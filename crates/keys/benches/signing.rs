//! Signing rate of the key stores (filled in by the next commit).

fn main() {}
