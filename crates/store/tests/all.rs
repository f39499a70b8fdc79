//! The store's integration suite: one binary, modules in `suite/`.

mod suite;
