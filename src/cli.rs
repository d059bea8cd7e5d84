//! The command line: `goshelf serve`, with one fn per subcommand.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::RawConfig;
use crate::http::{self, AppState};
use crate::store::{self, Store};

/// goshelf: a Go module registry in one binary and one file.
///
/// Machines on your network set GOPROXY=http://HOST:PORT/api/packages/OWNER/go and fetch
/// modules; you publish with `curl --upload-file m.zip` to .../api/packages/OWNER/go/upload.
#[derive(Debug, Parser)]
#[command(name = "goshelf", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the registry over HTTP.
    Serve(ServeArgs),
}

/// `goshelf serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on. Port 0 picks a free port (printed at startup).
    #[arg(long, env = "GOSHELF_LISTEN", value_name = "ADDR", default_value = crate::config::DEFAULT_LISTEN)]
    pub listen: String,
    /// The database file; created when absent. One file holds everything: back it up by
    /// copying it while the server is stopped.
    #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
    pub db: PathBuf,
    /// Largest upload accepted, e.g. 100MiB. Default and ceiling: 500MiB, the go command's own
    /// limit for a module zip.
    #[arg(
        long,
        env = "GOSHELF_MAX_UPLOAD",
        value_name = "SIZE",
        default_value = "500MiB"
    )]
    pub max_upload: String,
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever stops the subcommand; main prints it and exits non-zero.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let raw = RawConfig {
        listen: Some(args.listen),
        db: Some(args.db),
        max_upload: Some(args.max_upload),
    };
    let config = raw.resolve()?;
    if let Some(dir) = config.db.parent() {
        if !dir.is_dir() {
            anyhow::bail!(
                "the directory of the database file {} does not exist; create it or pass \
                 --db (GOSHELF_DB) with a path in an existing directory",
                config.db.display()
            );
        }
    }
    http::upload::clean_stale_spools(&config.db);
    let store = Store::open(&config.db)
        .with_context(|| format!("opening the database {}", config.db.display()))?;
    bootstrap_admin(&store)?;
    let state = AppState {
        store: Arc::new(store),
        config: Arc::new(config.clone()),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = Arc::clone(&state.store);
        let shutdown = shutdown_signal()?;
        http::serve(state, config.listen, shutdown, |addr| {
            // Tests and scripts read this line to learn the port.
            println!("goshelf listening on http://{addr}");
            tracing::info!(db = %config.db.display(), "goshelf listening on http://{addr}");
        })
        .await?;
        drop(store);
        Ok::<_, anyhow::Error>(())
    })?;
    tracing::info!("stopped; database closed");
    Ok(())
}

/// On an empty database, creates `admin` with the token from `GOSHELF_ADMIN_TOKEN`, or a new
/// one printed once on stderr.
fn bootstrap_admin(store: &Store) -> anyhow::Result<()> {
    if store.has_users()? {
        return Ok(());
    }
    let (token, generated) = match std::env::var("GOSHELF_ADMIN_TOKEN") {
        Ok(t) if !t.trim().is_empty() => (t.trim().to_owned(), false),
        _ => (crate::auth::generate_token(), true),
    };
    if store.bootstrap_admin(&token, store::now_unix())? && generated {
        eprintln!(
            "\ngoshelf: created user 'admin' with this token (shown once, stored only as a hash):\n\n    \
             {token}\n\nPublish a module zip with:\n\n    curl --fail-with-body -H 'Authorization: Bearer {token}' \
             --upload-file m.zip http://HOST:PORT/api/packages/OWNER/go/upload\n"
        );
    }
    Ok(())
}

/// Registers SIGINT and SIGTERM handlers now, before the listening line is printed, and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => tracing::info!("SIGINT received"),
                _ = term.recv() => tracing::info!("SIGTERM received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!("cannot listen for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        })
    }
}
