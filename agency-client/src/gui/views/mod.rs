//! The window's views, one file each, drawing over the [`App`](super::App) state: [`listings`]
//! (own listings, the listing form, everyone's listings; [`conflicts`] with another desk),
//! [`customers`] (owners, tenants, wishes, watching), [`hints`], [`sync`] (with [`vault`]:
//! waiting desks, conflicts) and [`certificate`].

pub mod certificate;
pub mod conflicts;
pub mod customers;
pub mod hints;
pub mod listings;
pub mod sync;
pub mod vault;
