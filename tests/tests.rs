mod gomod_conformance;
mod support;
mod e2e_go;
mod server_process;
