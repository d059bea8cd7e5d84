//! The goshelf binary: parse the command line, set up logging, run, pick the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = goshelf::cli::Cli::parse();
    let log = goshelf::logging::LogWriter::stderr();
    if let Err(e) = log.spawn_flusher() {
        eprintln!("goshelf: error: starting the log thread: {e}");
        return ExitCode::FAILURE;
    }
    log.install();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(log.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = goshelf::cli::run(cli);
    log.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("goshelf: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
