//! The command line: `goshelf serve`, with one fn per subcommand.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod accounts;

use crate::bundle::{export, import};
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
    /// Zip a module's source tree by the go command's rules and upload it.
    Publish(PublishArgs),
    /// Write a consistent copy of the registry to a new database file: from a running server
    /// (--server, admin token) or from a stopped server's file (--db).
    Backup(BackupArgs),
    /// Re-hash every blob, re-check every version's zip and h1, reference counts and orphan
    /// chunks; exit non-zero on any problem.
    Verify(TargetArgs),
    /// Reclaim free space in a database file (the server must be stopped).
    Compact(DbArg),
    /// Build what the web UI shows of each hosted version (README, file list, package
    /// documentation) that the database lacks, e.g. in a file from before package
    /// documentation existed (the server must be stopped; a running one builds them on
    /// first view).
    Reindex(DbArg),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users: add, list, passwd, set-admin, rm.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// Manage API tokens: create, list, revoke.
    #[command(subcommand)]
    Token(accounts::TokenCommand),
    /// Manage organisations and their members.
    #[command(subcommand)]
    Org(accounts::OrgCommand),
    /// Manage namespaces (owners): list, set-visibility, set-quota, set-retention, share,
    /// claim.
    #[command(subcommand)]
    Owner(accounts::OwnerCommand),
    /// Module path patterns never asked of an upstream checksum database, which every path of
    /// a private namespace must match: add, list.
    #[command(subcommand)]
    Private(accounts::PrivateCommand),
    /// The pull-through cache of public modules: list, evict, refresh.
    #[command(subcommand)]
    Cache(accounts::CacheCommand),
    /// The namespaces' retention rules (`goshelf owner set-retention`): run.
    #[command(subcommand)]
    Retention(accounts::RetentionCommand),
    /// Write the hosted modules (of every namespace, or of --owner) and the cached public
    /// ones as a GOPROXY tree in the module cache's layout, with the checksum databases'
    /// lookups and tiles to verify them: usable offline as GOPROXY=file:///OUT with
    /// GOSUMDB=<this shelf's key>, and by `goshelf import` on an offline shelf. On a stopped
    /// server's file (--db), or by a running one (--server, writing OUT on its machine).
    Export {
        /// The directory to write (made when absent; files already there are replaced).
        out: PathBuf,
        /// One namespace only (hosted modules; without it, cached public modules too).
        #[arg(long)]
        owner: Option<String>,
        /// The upstream checksum database of the cached modules, as the server's setting
        /// (its lookups and proofs are bundled; tiles the shelf lacks are fetched from it).
        #[arg(long, env = "GOSHELF_UPSTREAM_SUMDB", default_value = "sum.golang.org")]
        upstream_sumdb: String,
        /// Only the versions a go.mod, go.sum or go.work needs (repeatable); those this shelf
        /// lacks are named.
        #[arg(long = "for", value_name = "FILE")]
        for_files: Vec<PathBuf>,
        /// --server: a running shelf writes OUT on its machine (absent or empty; admin token);
        /// else --db, the stopped server's file.
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Import modules carried across an air gap: a module cache made on a connected machine
    /// (`go mod download -json all`; its GOMODCACHE, cache/download or GOPATH) or a tree
    /// written by `goshelf export`. Every version is checked by the upload rules and trusted
    /// only if a bundled lookup of the upstream checksum database (or of --trust-sumdb) or a
    /// --go-sum line vouches for it. Prints a report; exits non-zero when anything was
    /// refused; a re-run finishes an interrupted import. On a stopped server's file (--db,
    /// made when absent), or by a running one (--server, reading DIR on its machine).
    Import(ImportArgs),
    /// The shelf's checksum database: `key` prints the GOSUMDB value for clients.
    #[command(subcommand)]
    Sumdb(SumdbCommand),
    /// The local CA of `serve --tls-self-signed`.
    #[command(subcommand)]
    Ca(CaCommand),
}

/// `goshelf sumdb ...`.
#[derive(Debug, Subcommand)]
pub enum SumdbCommand {
    /// Print `GOSUMDB=<verifier key>` for clients: from a running server (--server, no token
    /// needed: the key is public) or a database file (--db).
    Key(SumdbKeyArgs),
    /// Give the log a new name and key, keeping its records: the way on after an older copy
    /// of the database was restored (clients refuse a log that went backwards under the same
    /// name). The server must be stopped; clients then set the new GOSUMDB it prints.
    Rotate {
        /// The new name, e.g. nas/sumdb/2 (host[/path], as GOSUMDB names are).
        #[arg(long)]
        name: String,
        /// The database file.
        #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
        db: PathBuf,
    },
}

/// `goshelf sumdb key`.
#[derive(Debug, clap::Args)]
pub struct SumdbKeyArgs {
    /// A running goshelf, e.g. http://nas:8080.
    #[arg(long, env = "GOSHELF_SERVER")]
    pub server: Option<String>,
    /// The database file, used when --server is not given (the server must be stopped).
    #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
    pub db: PathBuf,
}

/// `goshelf ca ...`.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Print the local CA certificate (PEM) that clients must trust: from a database file
    /// (--db, offline) or from a running server's /ca.pem (--server).
    Export(CaExportArgs),
}

/// `goshelf ca export`.
#[derive(Debug, clap::Args)]
pub struct CaExportArgs {
    /// A running goshelf, e.g. http://nas:8080 or https://nas:8443; no token needed.
    #[arg(long, env = "GOSHELF_SERVER")]
    pub server: Option<String>,
    /// With an https --server: fetch without verifying its certificate (you do not trust the
    /// CA yet). Compare the fingerprint printed on stderr with the one in the server's log.
    #[arg(long)]
    pub insecure: bool,
    /// The database file, used when --server is not given (the server must be stopped).
    #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
    pub db: PathBuf,
}

/// Where an admin command works: a running server, or a database file.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// A running goshelf, e.g. http://nas:8080 (needs an admin token).
    #[arg(long, env = "GOSHELF_SERVER")]
    pub server: Option<String>,
    /// Admin token for --server. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, env = "GOSHELF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The database file, used when --server is not given (the server must be stopped).
    #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
    pub db: PathBuf,
}

/// `goshelf backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The new database file to write; it must not exist.
    pub out: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// `goshelf import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The bundle: a GOMODCACHE, its cache/download, a GOPATH, or an export.
    pub dir: PathBuf,
    /// The upstream checksum database whose bundled lookups verify versions, as the
    /// server's setting: sum.golang.org, <vkey>, <vkey> <url>, or off.
    #[arg(long, env = "GOSHELF_UPSTREAM_SUMDB", default_value = "sum.golang.org")]
    pub upstream_sumdb: String,
    /// Also trust bundled lookups of this checksum database (a verifier key, e.g. the
    /// exporting shelf's `goshelf sumdb key`); repeatable.
    #[arg(long = "trust-sumdb", value_name = "VKEY")]
    pub trust_sumdb: Vec<String>,
    /// A go.sum file whose lines verify versions; repeatable.
    #[arg(long = "go-sum", value_name = "FILE")]
    pub go_sum: Vec<PathBuf>,
    /// Import versions nothing verifies, marked unverified and never logged.
    #[arg(long)]
    pub allow_unverified: bool,
    /// Import every version as a hosted version of this namespace (made private when new).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Make the progress durable every this many seconds (a crash loses at most that much
    /// work; 0: after every version).
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    pub checkpoint: u64,
    /// --server: a running shelf reads DIR on its machine and verifies with its own
    /// upstream_sumdb (admin token); else --db, the stopped server's file (made when absent).
    #[command(flatten)]
    pub target: TargetArgs,
}

/// A database file.
#[derive(Debug, clap::Args)]
pub struct DbArg {
    /// The database file (the server must be stopped).
    #[arg(long, env = "GOSHELF_DB", value_name = "FILE", default_value = crate::config::DEFAULT_DB)]
    pub db: PathBuf,
}

/// `goshelf publish`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The module's root directory (the one with go.mod).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The version to publish, e.g. v1.2.3. Without it, the exact git tag at HEAD is used
    /// (`sub/dir/v1.2.3` for a module in a subdirectory).
    #[arg(long)]
    pub version: Option<String>,
    /// Publish a pseudo-version of the HEAD commit (v0.0.0-20240102150405-abcdef123456).
    #[arg(long, conflicts_with = "version")]
    pub pseudo: bool,
    /// Publish even if the git work tree has uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,
    /// List the files that would be included and omitted (with the reason) and the go.sum
    /// lines; upload nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the zip to FILE instead of uploading it.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The owner (namespace) to publish to.
    #[arg(long, env = "GOSHELF_OWNER")]
    pub owner: Option<String>,
    /// The goshelf server, e.g. http://nas:8080.
    #[arg(long, env = "GOSHELF_SERVER")]
    pub server: Option<String>,
    /// The token to upload with. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, env = "GOSHELF_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `goshelf serve` (and `goshelf config check`): each setting comes from its flag, else its
/// environment variable, else the configuration file, else its default. The flags are made
/// from `config::SETTINGS` (clap's `Args` by hand below), so every setting has one.
#[derive(Debug, Clone, Default)]
pub struct ServeArgs {
    /// The flag layer.
    pub flags: RawConfig,
    /// A TOML file with any of the settings (lowest precedence).
    pub config: Option<PathBuf>,
}

/// The id of `--config` among the table's flags.
const CONFIG_ARG: &str = "config";

impl clap::FromArgMatches for ServeArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = ServeArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for s in crate::config::SETTINGS {
            if s.flag == crate::config::Flag::None {
                continue;
            }
            if let Some(v) = matches.get_one::<String>(s.name) {
                self.flags.set(s.key, v.clone());
            }
        }
        if let Some(p) = matches.get_one::<PathBuf>(CONFIG_ARG) {
            self.config = Some(p.clone());
        }
        Ok(())
    }
}

impl clap::Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        use crate::config::Flag;
        let mut cmd = cmd;
        for s in crate::config::SETTINGS {
            let help = format!("{} [env: {}] [default: {}]", s.help, s.env(), s.default);
            // clap keeps a flag's name for the life of the command: made once per process.
            let long: &'static str = Box::leak(s.flag_name().into_boxed_str());
            let arg = clap::Arg::new(s.name).long(long).help(help);
            let arg = match s.flag {
                Flag::None => continue,
                Flag::Value(name) => arg.value_name(name).num_args(1),
                Flag::Switch => arg
                    .value_name("true|false")
                    .num_args(0..=1)
                    .default_missing_value("true"),
            };
            cmd = cmd.arg(arg);
        }
        let keys: Vec<&str> = crate::config::keys().collect();
        cmd.arg(
            clap::Arg::new(CONFIG_ARG)
                .long("config")
                .env("GOSHELF_CONFIG")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!(
                    "A TOML file with any of the keys {} (lowest precedence: flags and \
                     environment override it)",
                    keys.join(", ")
                )),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// `goshelf config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, each value with its source, secrets redacted; exit
    /// non-zero if it is invalid.
    Check(ServeArgs),
    /// Print every setting (file key, flag, environment variable, default, meaning) as a
    /// Markdown table, as README shows it.
    Reference,
}

impl ServeArgs {
    /// Resolves the layers into a validated configuration, with each key's source.
    fn resolve(
        &self,
    ) -> anyhow::Result<(
        crate::config::Config,
        Vec<(crate::config::Key, crate::config::Source)>,
    )> {
        let env = RawConfig::from_env(&|k| std::env::var(k).ok());
        let file = match &self.config {
            Some(p) => Some((p.clone(), RawConfig::from_file(p)?)),
            None => None,
        };
        let (merged, sources) = RawConfig::layered(
            &self.flags,
            &env,
            file.as_ref().map(|(p, f)| (p.as_path(), f)),
        );
        Ok((merged.resolve()?, sources))
    }
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever stops the subcommand; main prints it and exits non-zero.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Publish(args) => publish(args),
        Command::Backup(args) => backup(&args),
        Command::Verify(args) => verify(&args),
        Command::Compact(args) => compact(&args),
        Command::Reindex(args) => reindex(&args),
        Command::Config(ConfigCommand::Check(args)) => config_check(&args),
        Command::Config(ConfigCommand::Reference) => {
            print!("{}", crate::config::reference_table());
            Ok(())
        }
        Command::User(cmd) => accounts::user(cmd),
        Command::Token(cmd) => accounts::token(cmd),
        Command::Org(cmd) => accounts::org(cmd),
        Command::Owner(cmd) => accounts::owner(cmd),
        Command::Private(cmd) => accounts::private(cmd),
        Command::Cache(cmd) => accounts::cache(cmd),
        Command::Retention(cmd) => accounts::retention(cmd),
        Command::Export {
            out,
            owner,
            upstream_sumdb,
            for_files,
            target,
        } => export_bundle(&out, owner, &upstream_sumdb, &for_files, &target),
        Command::Import(args) => import_bundle(&args),
        Command::Ca(CaCommand::Export(args)) => ca_export(&args),
        Command::Sumdb(SumdbCommand::Key(args)) => sumdb_key(&args),
        Command::Sumdb(SumdbCommand::Rotate { name, db }) => sumdb_rotate(&name, &db),
    }
}

fn sumdb_rotate(name: &str, db: &Path) -> anyhow::Result<()> {
    crate::sumdb::note::check_go_sumdb_name(name)
        .map_err(|e| anyhow::anyhow!("{name:?} is not a usable checksum database name: {e}"))?;
    let store = open_existing(db)?;
    let skey = store.sumdb_rotate(name, rand::random())?;
    let vkey = crate::sumdb::note::Signer::parse(&skey)
        .map_err(|e| anyhow::anyhow!("the new key: {e}"))?
        .vkey();
    eprintln!(
        "the checksum database is now {name}, with {} records; every client sets the new value:",
        store.sumdb_size()?
    );
    println!("GOSUMDB={vkey}");
    Ok(())
}

fn sumdb_key(args: &SumdbKeyArgs) -> anyhow::Result<()> {
    let vkey = match &args.server {
        Some(server) => {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(crate::client::tls_config()?)
                .build()
                .into();
            let url = format!("{}/sumdb-key", server.trim_end_matches('/'));
            let mut resp = agent
                .get(&url)
                .call()
                .with_context(|| format!("fetching {url}"))?;
            let status = resp.status().as_u16();
            let body = resp.body_mut().read_to_string()?;
            if status != 200 {
                anyhow::bail!(
                    "{url}: {status}: {}",
                    body.lines().next().unwrap_or("").trim()
                );
            }
            body.trim().to_owned()
        }
        None => {
            let store = open_existing(&args.db)?;
            let id = store.sumdb_identity()?.with_context(|| {
                format!(
                    "{} has no checksum database yet: `goshelf serve` makes it at its first start",
                    args.db.display()
                )
            })?;
            crate::sumdb::note::Signer::parse(&id.skey)
                .map_err(|e| anyhow::anyhow!("the checksum database key is damaged: {e}"))?
                .vkey()
        }
    };
    println!("GOSUMDB={vkey}");
    Ok(())
}

fn config_check(args: &ServeArgs) -> anyhow::Result<()> {
    let (config, sources) = args.resolve()?;
    print!("{}", crate::config::describe(&config, &sources));
    println!("{}", config.memory_summary());
    println!("configuration OK");
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, _) = args.resolve()?;
    if let Some(dir) = config.db.parent() {
        if !dir.is_dir() {
            anyhow::bail!(
                "the directory of the database file {} does not exist; create it or pass \
                 --db (GOSHELF_DB) with a path in an existing directory",
                config.db.display()
            );
        }
    }
    crate::ingest::clean_stale_spools(&config.db);
    let store = Store::open_with_cache(&config.db, config.page_cache_bytes())
        .with_context(|| format!("opening the database {}", config.db.display()))?
        .with_quick_repair(config.quick_repair);
    tracing::info!("{}", config.memory_summary());
    if let Some(mode) = store::readable_by_others(&config.db) {
        tracing::warn!(
            "the database {} has mode {mode:o}: others than its owner may read it, and it \
             holds password and token hashes (and the local CA's key with --tls-self-signed); \
             `chmod 600 {}` (new files are made 0600)",
            config.db.display(),
            config.db.display()
        );
    }
    bootstrap_admin(&store, config.admin_token.as_deref())?;
    let tls = match &config.tls {
        Some(t) => Some((t.listen, tls_server_config(&store, &t.source)?)),
        None => None,
    };
    let listeners = http::Listeners {
        plain: config.listen,
        redirect_http: config.redirect_http,
        tls,
    };
    let (state, log) =
        AppState::with_log(store, config.clone()).context("opening the checksum database")?;
    announce_log(&state, &log);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let store = runtime.block_on(async move {
        let store = Arc::clone(&state.store);
        let shutdown = shutdown_signal()?;
        let background = state.clone();
        let flusher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(http::BACKGROUND_FLUSH_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                http::authn::flush_token_uses(&background).await;
                http::ui::flush_downloads(&background).await;
            }
        });
        // What was written without `fsync` becomes durable within SETTLE_INTERVAL.
        // So does the largest size of the checksum log published, in its sidecar.
        let settling = Arc::clone(&state.store);
        let log = Arc::clone(&state.sumdb);
        let settler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(http::SETTLE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let s = Arc::clone(&settling);
                let log = Arc::clone(&log);
                let settled = tokio::task::spawn_blocking(move || {
                    log.write_sidecar(true);
                    s.settle()
                });
                match settled.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!("making the cache durable: {e}"),
                    Err(e) => tracing::warn!("making the cache durable: {e}"),
                }
            }
        });
        let retention = config.retention_schedule.map(|every| {
            let s = Arc::clone(&state.store);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let s = Arc::clone(&s);
                    let ran = tokio::task::spawn_blocking(move || {
                        crate::admin::run_retention(&s, None, crate::store::now_unix())
                    })
                    .await;
                    match ran {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::error!("retention run: {e}"),
                        Err(e) => tracing::error!("retention run: {e}"),
                    }
                }
            })
        });
        let last = state.clone();
        http::serve(state, listeners, shutdown, |bound| {
            // Tests and scripts read these lines to learn the ports: plain first, then HTTPS.
            if let Some(addr) = bound.plain {
                println!("goshelf listening on http://{addr}");
                let what = if config.redirect_http {
                    " (redirecting to HTTPS)"
                } else {
                    ""
                };
                tracing::info!(db = %config.db.display(), "goshelf listening on http://{addr}{what}");
            }
            if let Some(addr) = bound.tls {
                println!("goshelf listening on https://{addr}");
                tracing::info!(db = %config.db.display(), "goshelf listening on https://{addr}");
            }
        })
        .await?;
        flusher.abort();
        settler.abort();
        if let Some(r) = retention {
            r.abort();
        }
        http::authn::flush_token_uses(&last).await;
        http::ui::flush_downloads(&last).await;
        // What the pull-through cache fetched is written without fsync: keep it.
        if let Err(e) = last.store.make_durable() {
            tracing::warn!("making the cache durable at stop: {e}");
        }
        last.sumdb.write_sidecar(true);
        drop(last);
        Ok::<_, anyhow::Error>(store)
    })?;
    // Drops every task (the aborted flusher too) and waits for blocking ones still running
    // (an upload being published, a spool file being removed, facts being warmed): after
    // this the store is ours alone.
    drop(runtime);
    if config.compact_on_stop {
        compact_at_stop(store)?;
    } else {
        drop(store);
    }
    tracing::info!("stopped; database closed");
    Ok(())
}

/// The start-up lines about the checksum database: its GOSUMDB value, what was logged now,
/// and the versions served unlogged because another content holds their record.
fn announce_log(state: &AppState, log: &store::sumdb::LogOpened) {
    let name = state.sumdb.name();
    if log.created {
        tracing::info!(
            "made the checksum database {name} (its name and key are in the database file)"
        );
    }
    if log.appended > 0 {
        tracing::info!(
            "logged {} existing versions in the checksum database",
            log.appended
        );
    }
    for (owner, module, version, h1) in &log.conflicts {
        tracing::warn!(
            "{owner}: {module}@{version} is served but not logged: the checksum database \
             holds {h1} for it (clients verifying with it must set GONOSUMDB={module})"
        );
    }
    for module in state.sumdb.uncovered() {
        tracing::warn!(
            "{module} is hosted in a private namespace but no private pattern covers it: it \
             is answered as if one did; make it explicit with `goshelf private add {}`",
            store::sumdb::suggested_pattern(module)
        );
    }
    if let Some((size, published)) = state.sumdb.rolled_back() {
        tracing::error!(
            "the checksum database {name} holds {size} records but published {published} \
             ({}): this file is an older copy; every URL of the log answers 503 until \
             `goshelf sumdb rotate --name NEW` (server stopped) gives it a new name",
            crate::http::sumdb::sidecar_path(state.store.path()).display()
        );
    }
    tracing::info!(
        records = log.size,
        "checksum database {name}: clients set GOSUMDB={}",
        state.sumdb.vkey()
    );
}

/// Compacts the file at a graceful stop when holes left by redb's growth make it much longer
/// than its blocks on disk (`FileSpace::worth_compacting`).
///
/// A second SIGINT/SIGTERM ends the process at once. redb's compaction commits step by step,
/// so the file stays whole; but its steps record no allocator state, so the next start runs
/// redb's full repair, which reads the whole file (the same after a SIGKILL mid-way).
fn compact_at_stop(store: Arc<Store>) -> anyhow::Result<()> {
    let Ok(mut store) = Arc::try_unwrap(store) else {
        tracing::warn!("not compacting at stop: the database is still in use");
        return Ok(());
    };
    let before = match store.file_space() {
        Ok(space) => space,
        Err(e) => {
            tracing::warn!("not compacting at stop: {e}");
            return Ok(());
        }
    };
    if !before.worth_compacting() {
        return Ok(());
    }
    let path = store.path().to_owned();
    tracing::info!(
        file_mib = before.length >> 20,
        on_disk_mib = before.on_disk >> 20,
        "compacting the database file before stopping (compact_on_stop); a second SIGINT or \
         SIGTERM stops at once, and the next start then checks the whole file"
    );
    let t0 = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime for the compaction")?;
    let result = runtime.block_on(async move {
        let second = shutdown_signal()?;
        let work = tokio::task::spawn_blocking(move || store.compact());
        tokio::select! {
            done = work => done.context("the compaction task"),
            () = second => {
                tracing::warn!(
                    "stopping without finishing the compaction: the file is whole, and the \
                     next start checks all of it"
                );
                std::process::exit(0);
            }
        }
    })?;
    match result {
        Ok(_) => {
            let after = file_len(&path);
            tracing::info!(
                file_mib = after >> 20,
                seconds = format!("{:.1}", t0.elapsed().as_secs_f64()),
                "compacted the database file"
            );
        }
        Err(e) => tracing::warn!("compacting at stop: {e}"),
    }
    Ok(())
}

/// The rustls configuration for `source`: the user's PEM files, or the self-signed material
/// from the database (created, or its server certificate reissued, as `tls::plan` decides).
fn tls_server_config(
    store: &Store,
    source: &crate::config::TlsSource,
) -> anyhow::Result<Arc<tokio_rustls::rustls::ServerConfig>> {
    use crate::config::TlsSource;
    use crate::tls::{self, Plan};
    let identity = match source {
        TlsSource::Files { cert, key } => {
            tls::load_pem_files(cert, key).context("loading --tls-cert/--tls-key")?
        }
        TlsSource::SelfSigned { names } => {
            let stored = store.self_signed_tls()?;
            let (material, plan) = tls::ensure(stored, names, store::now_unix())?;
            match &plan {
                Plan::Reuse => {}
                Plan::CreateAll => {
                    store.put_self_signed_tls(&material)?;
                    tracing::info!(
                        "created a local CA and a certificate for {}",
                        names.join(",")
                    );
                }
                Plan::ReissueServer(why) => {
                    store.put_self_signed_tls(&material)?;
                    tracing::info!("issued a new server certificate from the local CA: {why}");
                }
            }
            print_trust_help(&material, plan == Plan::CreateAll)?;
            tls::Identity::from_self_signed(&material)?
        }
    };
    Ok(tls::server_config(identity)?)
}

/// Tells, on stderr, how to make clients trust the local CA.
fn print_trust_help(m: &crate::tls::SelfSigned, created: bool) -> anyhow::Result<()> {
    let fingerprint = crate::tls::fingerprint(m.ca_cert_pem.as_bytes())?;
    let new = if created { "new " } else { "" };
    let names = m.server_names.join(",");
    eprintln!(
        "\ngoshelf: HTTPS with a certificate for {names} from the {new}local CA in the database.
CA SHA-256 fingerprint: {fingerprint}
Clients must trust this CA. Save it as ca.pem with one of:
    goshelf ca export --db FILE > ca.pem          (server stopped)
    goshelf ca export --server https://HOST:PORT --insecure > ca.pem
                                                  (then compare the fingerprint above)
Quick test (go, curl and git on Linux read it):
    SSL_CERT_FILE=$PWD/ca.pem go mod download ...
Install it for good:
    Debian/Ubuntu: sudo cp ca.pem /usr/local/share/ca-certificates/goshelf.crt && sudo update-ca-certificates
    Fedora/RHEL:   sudo cp ca.pem /etc/pki/ca-trust/source/anchors/goshelf.pem && sudo update-ca-trust
    macOS:         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.pem
"
    );
    Ok(())
}

fn ca_export(args: &CaExportArgs) -> anyhow::Result<()> {
    let pem = match &args.server {
        Some(server) => {
            let tls = if args.insecure {
                ureq::tls::TlsConfig::builder()
                    .disable_verification(true)
                    .build()
            } else {
                crate::client::tls_config()?
            };
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(tls)
                .build()
                .into();
            let url = format!("{}/ca.pem", server.trim_end_matches('/'));
            let mut resp = agent.get(&url).call().with_context(|| {
                format!(
                    "fetching {url} (for an https server whose CA you do not trust yet, add \
                     --insecure and compare the fingerprint)"
                )
            })?;
            let status = resp.status().as_u16();
            let body = resp.body_mut().read_to_vec()?;
            if status != 200 {
                anyhow::bail!(
                    "{url}: {status}: {}",
                    String::from_utf8_lossy(&body)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                );
            }
            body
        }
        None => open_existing(&args.db)?.tls_ca_pem()?.with_context(|| {
            format!(
                "{} has no local CA: start the server once with --tls-self-signed",
                args.db.display()
            )
        })?,
    };
    let fingerprint = crate::tls::fingerprint(&pem).context("the CA is not a PEM certificate")?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &pem)?;
    eprintln!("CA SHA-256 fingerprint: {fingerprint}");
    Ok(())
}

/// Opens an existing database file for an offline command.
pub(crate) fn open_existing(db: &std::path::Path) -> anyhow::Result<Store> {
    if !db.is_file() {
        anyhow::bail!(
            "no database file at {} (set --db or GOSHELF_DB)",
            db.display()
        );
    }
    Store::open(db).map_err(|e| match e {
        store::Error::Locked { .. } => anyhow::anyhow!(
            "{e}\nfor a running server, pass --server http://HOST:PORT with an admin token"
        ),
        other => anyhow::Error::new(other).context(format!("opening {}", db.display())),
    })
}

/// Opens the database file, making it when absent (`goshelf import` may fill a new shelf).
pub(crate) fn open_or_create(db: &std::path::Path) -> anyhow::Result<Store> {
    if db.is_file() {
        return open_existing(db);
    }
    Store::open(db).with_context(|| format!("creating {}", db.display()))
}

/// A path as the server will read it: absolute, from this command's directory (the server
/// reads it on its own machine).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

/// POSTs `body` to `path` of `server` (admin token) and returns the JSON answer.
fn post_admin(
    server: &str,
    token: Option<&str>,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let client = crate::client::Client::new(server, token)?;
    let (status, text) = client.send("POST", path, Some(body))?;
    if status != 200 {
        anyhow::bail!(
            "{server}: {status}: {}",
            text.lines().next().unwrap_or("").trim()
        );
    }
    serde_json::from_str(&text).context("reading the server's answer")
}

fn import_bundle(args: &ImportArgs) -> anyhow::Result<()> {
    let request = import::Request {
        dir: args.dir.clone(),
        trust_sumdb: args.trust_sumdb.clone(),
        go_sum: args.go_sum.clone(),
        allow_unverified: args.allow_unverified,
        namespace: args.namespace.clone(),
        checkpoint_secs: args.checkpoint,
    };
    if let Some(server) = &args.target.server {
        // Online: the server reads the directory (and go.sum files) on its machine and
        // verifies against its own upstream_sumdb.
        let request = import::Request {
            dir: absolute(&args.dir)?,
            go_sum: args
                .go_sum
                .iter()
                .map(|p| absolute(p))
                .collect::<anyhow::Result<_>>()?,
            ..request
        };
        let answer = post_admin(
            server,
            args.target.token.as_deref(),
            "/api/v1/admin/import",
            &serde_json::to_value(&request)?,
        )?;
        let report: import::Report = serde_json::from_value(answer["report"].clone())
            .context("reading the server's report")?;
        print!("{}", import::describe(&report, answer["upstream"].as_str()));
        if !report.refused.is_empty() {
            anyhow::bail!("{} entries refused", report.refused.len());
        }
        return Ok(());
    }
    let upstream_sumdb = crate::http::upstream::UpstreamConfig::parse(&args.upstream_sumdb)
        .map_err(|e| anyhow::anyhow!("--upstream-sumdb {}: {e}", args.upstream_sumdb))?
        .map(|u| crate::sumdb::Verifier::parse(&u.vkey))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--upstream-sumdb {}: {e}", args.upstream_sumdb))?;
    let options = request
        .options(upstream_sumdb)
        .map_err(|e| anyhow::anyhow!("--trust-sumdb {e}"))?;
    import::run(&args.target.db, &args.dir, &options)
}

fn export_bundle(
    out: &Path,
    owner: Option<String>,
    upstream_sumdb: &str,
    for_files: &[PathBuf],
    target: &TargetArgs,
) -> anyhow::Result<()> {
    let owner = owner.map(|o| o.to_ascii_lowercase());
    if let Some(server) = &target.server {
        let request = export::Request {
            out: absolute(out)?,
            owner,
            for_files: for_files
                .iter()
                .map(|p| absolute(p))
                .collect::<anyhow::Result<_>>()?,
        };
        let answer = post_admin(
            server,
            target.token.as_deref(),
            "/api/v1/admin/export",
            &serde_json::to_value(&request)?,
        )?;
        let done: export::Exported = serde_json::from_value(answer["exported"].clone())
            .context("reading the server's report")?;
        print!(
            "{}",
            export::describe(
                &done,
                answer["name"].as_str().unwrap_or(""),
                answer["vkey"].as_str().unwrap_or(""),
                &request.out
            )
        );
        return Ok(());
    }
    export::run(
        &target.db,
        owner.as_deref(),
        out,
        crate::http::upstream::UpstreamConfig::parse(upstream_sumdb)
            .map_err(|e| anyhow::anyhow!("--upstream-sumdb {upstream_sumdb}: {e}"))?,
        for_files,
    )
}

fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let out = &args.out;
    if out.exists() {
        anyhow::bail!(
            "{} exists; backups are written to a new file",
            out.display()
        );
    }
    let mut tmp_name = out
        .file_name()
        .context("backup needs a file name")?
        .to_os_string();
    tmp_name.push(".partial");
    let tmp = out.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let result = match &args.target.server {
        Some(server) => {
            let client = crate::client::Client::new(server, args.target.token.as_deref())?;
            let resp = client.get("/api/v1/admin/backup")?;
            let mut reader = resp.into_body().into_reader();
            Store::import(&tmp, &mut reader).context("writing the backup")
        }
        None => {
            let store = open_existing(&args.target.db)?;
            let (mut reader, mut writer) = std::io::pipe().context("creating a pipe")?;
            std::thread::scope(|s| {
                let export = s.spawn(move || {
                    let r = store.export(&mut std::io::BufWriter::new(&mut writer));
                    drop(writer);
                    r
                });
                let imported = Store::import(&tmp, &mut std::io::BufReader::new(&mut reader));
                drop(reader);
                let exported = export
                    .join()
                    .map_err(|_| anyhow::anyhow!("export thread panicked"))?;
                exported.context("reading the database")?;
                imported.context("writing the backup")
            })
        }
    };
    let entries = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out)
        .with_context(|| format!("moving the backup to {}", out.display()))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup: {entries} entries written to {} ({size} bytes)",
        out.display()
    );
    Ok(())
}

fn verify(args: &TargetArgs) -> anyhow::Result<()> {
    let report: store::VerifyReport = match &args.server {
        Some(server) => {
            let client = crate::client::Client::new(server, args.token.as_deref())?;
            let text = client
                .get("/api/v1/admin/verify")?
                .body_mut()
                .read_to_string()?;
            serde_json::from_str(&text).context("reading the verify report")?
        }
        None => open_existing(&args.db)?.verify()?,
    };
    println!(
        "verify: {} versions, {} blobs ({} bytes), {} chunks, {} pack records",
        report.versions, report.blobs, report.bytes, report.chunks, report.pack_records
    );
    for p in &report.problems {
        println!("PROBLEM: {}", p.what);
        for v in &p.versions {
            println!("  affects {v}");
        }
    }
    println!("verify: checksum database: {} records", report.log_records);
    for n in &report.notes {
        println!("NOTE: {}", n.what);
        for v in &n.versions {
            println!("  affects {v}");
        }
    }
    if report.is_clean() {
        println!("verify: OK");
        Ok(())
    } else {
        anyhow::bail!("verify found {} problem(s)", report.problems.len())
    }
}

/// The length of the file at `path`, 0 when it cannot be read (for messages only).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn compact(args: &DbArg) -> anyhow::Result<()> {
    let before = file_len(&args.db);
    let mut store = open_existing(&args.db)?;
    store.compact()?;
    drop(store);
    let after = file_len(&args.db);
    println!(
        "compact: {} bytes before, {after} bytes after ({} reclaimed)",
        before,
        before.saturating_sub(after)
    );
    Ok(())
}

fn reindex(args: &DbArg) -> anyhow::Result<()> {
    let store = open_existing(&args.db)?;
    let versions = store.list_all_versions(None)?;
    let mut failed = 0;
    for v in &versions {
        if let Err(e) = crate::http::ui::index_version(&store, &v.owner, &v.module, &v.version) {
            failed += 1;
            eprintln!(
                "reindex: {}@{} ({}): {}",
                v.module, v.version, v.owner, e.message
            );
        }
    }
    println!("reindex: {} versions, {failed} failed", versions.len());
    if failed > 0 {
        anyhow::bail!("{failed} versions could not be indexed");
    }
    Ok(())
}

fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let opts = crate::publish::Options {
        dir: args.dir,
        version: args.version,
        pseudo: args.pseudo,
        allow_dirty: args.allow_dirty,
        dry_run: args.dry_run,
        output: args.output,
        owner: args.owner,
        server: args.server,
        token: args.token,
    };
    crate::publish::run(&opts, &mut std::io::stdout().lock())
}

/// On an empty database, creates `admin` with the configured token (`GOSHELF_ADMIN_TOKEN` or
/// the file's `admin_token`), or a new one printed once on stderr.
fn bootstrap_admin(store: &Store, configured: Option<&str>) -> anyhow::Result<()> {
    if store.has_users()? {
        return Ok(());
    }
    let (token, generated) = match configured {
        Some(t) => (t.trim().to_owned(), false),
        None => (crate::auth::generate_token(), true),
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
