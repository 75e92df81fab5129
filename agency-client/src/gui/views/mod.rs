//! The window's views, each drawing over the [`App`](super::App) state.

pub mod customers;
