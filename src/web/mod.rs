//! The web UI's logic, apart from HTTP: README rendering and sanitising (`markdown`), the
//! pages and their templates (`pages`), what is read from a version's zip and its cache
//! (`facts`) and its package documentation (`docs`), download counters (`downloads`) and sign-in sessions (`sessions`). The routes and
//! handlers are in `http::ui`; no I/O here beyond reading a zip handed in.

pub mod docpage;
pub mod docs;
pub mod downloads;
pub mod facts;
pub mod markdown;
pub mod pages;
pub mod sessions;
