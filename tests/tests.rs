#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod e2e_go;
mod gomod_conformance;
mod gomod_create;
mod gomod_zip_upload;
mod gomod_zipkit;
mod http_routes;
mod server_process;
mod store_model;
mod support;
mod publish_cli;
mod admin_ops;
mod hostile_uploads;
mod crash_safety;
mod concurrency;
mod disk_full;
