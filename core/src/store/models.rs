//! Placeholder: filled in by the admin CRUD work.
