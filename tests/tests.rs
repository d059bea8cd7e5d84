#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
mod admin_ops;
mod concurrency;
mod crash_safety;
mod disk_full;
mod e2e_go;
mod gomod_conformance;
mod gomod_create;
mod gomod_zip_upload;
mod gomod_zipkit;
mod group_commit;
mod hostile_uploads;
mod http_routes;
mod publish_cli;
mod server_process;
mod store_model;
mod support;
