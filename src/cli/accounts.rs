//! `goshelf user|token|org|owner`: account administration, online through the JSON API of a
//! running server (`--server`, token in `GOSHELF_TOKEN`) or offline on a stopped server's
//! database file (`--db`). Both build the same `admin::Op`.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::Value;

use super::{open_existing, TargetArgs};
use crate::admin::{self, Op, Outcome};
use crate::auth::{Principal, Scope, Visibility};
use crate::store::{self, OwnerUpdate};

/// `goshelf user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (and their namespace of the same name). The password is read from
    /// --password-stdin, else GOSHELF_PASSWORD, else asked at the terminal.
    Add {
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Create the user without a password (tokens only).
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Set a user's password (same sources as `user add`).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Grant (`yes`) or withdraw (`no`) admin rights.
    SetAdmin {
        name: String,
        #[arg(value_parser = ["yes", "no"])]
        admin: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Set how many records a user's checksum database lookups may fetch from the upstream
    /// database per hour (`default`: the setting sumdb_lookup_budget), e.g. for a CI user
    /// that downloads many public modules at once.
    LookupBudget {
        name: String,
        /// Records per hour, or `default`.
        budget: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Delete a user with their tokens and memberships; their namespace and modules stay.
    Rm {
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `goshelf token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once and stored only as a hash.
    Create {
        /// A name to recognise it by, e.g. "ci" or "laptop".
        #[arg(long)]
        name: String,
        /// read (download) or write (download and publish).
        #[arg(long, default_value = "write", value_parser = ["read", "write"])]
        scope: String,
        /// When it stops working: a duration (90d, 12h, 30m) or a date (2027-01-31, UTC).
        #[arg(long)]
        expires: Option<String>,
        /// Whose token (admins; default: yourself, or admin offline).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List tokens (yours; --user or --all for admins).
    List {
        #[arg(long, conflicts_with = "all")]
        user: Option<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Revoke a token by its id (from `token list`).
    Revoke {
        id: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `goshelf org ...`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation namespace.
    Add {
        name: String,
        /// Make it private: only members (and admins) can read it.
        #[arg(long)]
        private: bool,
        /// With --private: a module path pattern (GOPRIVATE syntax) its modules will match,
        /// added to `private` first (every path of a private namespace must match one).
        #[arg(long, requires = "private")]
        pattern: Vec<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Add a member, change their role, or remove them (--remove).
    Member {
        org: String,
        user: String,
        /// read (download) or write (download and publish).
        #[arg(long, default_value = "read", value_parser = ["read", "write"])]
        role: String,
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `goshelf owner ...`.
#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// List namespaces with kind, visibility, quotas, usage and members.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Make a namespace public (anonymous read) or private (members only).
    SetVisibility {
        owner: String,
        #[arg(value_parser = ["public", "private"])]
        visibility: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Let namespace OWNER publish module path PATH (and the paths below it), which another
    /// namespace holds in the checksum database (records are permanent, so a path belongs
    /// to the first logged namespace that published it).
    Share {
        owner: String,
        path: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Let organisation OWNER host module path PATH (and the paths below it) although the
    /// checksum database holds it, or paths below it, from the upstream checksum database.
    /// From then on this shelf answers lookups of those paths itself, never upstream: for
    /// every client of this shelf the organisation's versions replace the public ones.
    Claim {
        owner: String,
        path: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Limit a namespace's total zip bytes and/or version count (`none` removes a limit).
    SetQuota {
        owner: String,
        /// e.g. 10GiB, or none.
        #[arg(long)]
        bytes: Option<String>,
        /// e.g. 5000, or none.
        #[arg(long)]
        versions: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Set the namespace's retention rules, applied by `goshelf retention run` and the
    /// `retention_schedule`: keep the newest N pseudo-versions of each module and/or those
    /// uploaded in the last D days; remove prereleases uploaded more than D days ago.
    /// Releases are never removed; a removed version answers 410, as a deleted one does.
    SetRetention {
        owner: String,
        /// Keep the newest N pseudo-versions of each module (by their commit time).
        #[arg(long, value_name = "N")]
        keep_pseudo: Option<u32>,
        /// Keep pseudo-versions uploaded in the last D days.
        #[arg(long, value_name = "D")]
        keep_pseudo_days: Option<u32>,
        /// Remove prereleases uploaded more than D days ago.
        #[arg(long, value_name = "D")]
        prerelease_days: Option<u32>,
        /// Remove every rule (nothing is removed any more).
        #[arg(long, conflicts_with_all = ["keep_pseudo", "keep_pseudo_days", "prerelease_days"])]
        clear: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// `goshelf retention ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Apply the namespaces' retention rules now: each version they name is removed (a
    /// tombstone stays: it answers 410). `--dry-run` lists exactly what would go.
    Run {
        /// List what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// One namespace only.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Runs a `goshelf retention` command.
///
/// # Errors
/// Whatever the server or store refuses.
pub fn retention(cmd: RetentionCommand) -> anyhow::Result<()> {
    let RetentionCommand::Run {
        dry_run,
        owner,
        target,
    } = cmd;
    let out = run(
        &target,
        Op::RetentionRun {
            owner: owner.map(|o| o.to_ascii_lowercase()),
            dry_run,
        },
    )?;
    let list = out.list("removed");
    for r in list {
        println!(
            "{}\t{}@{}\t{}",
            r["owner"].as_str().unwrap_or(""),
            r["module"].as_str().unwrap_or(""),
            r["version"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or(""),
        );
    }
    if dry_run {
        println!("{} versions would be removed (dry run)", list.len());
    } else {
        println!("{} versions removed", list.len());
    }
    Ok(())
}

/// `goshelf private ...`: the module path patterns never asked of an upstream, which every
/// path of a private namespace must match.
#[derive(Debug, clap::Subcommand)]
pub enum PrivateCommand {
    /// Add a pattern (GOPRIVATE syntax: corp.example.com, *.corp.example.com, ...).
    Add {
        pattern: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// List the patterns.
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Runs a `goshelf private` command.
///
/// # Errors
/// Whatever the server or store refuses.
pub fn private(cmd: PrivateCommand) -> anyhow::Result<()> {
    match cmd {
        PrivateCommand::Add { pattern, target } => {
            run(
                &target,
                Op::PrivateAdd {
                    pattern: pattern.clone(),
                },
            )?;
            println!("private pattern {pattern} added");
        }
        PrivateCommand::List { target } => {
            let out = run(&target, Op::PrivateList)?;
            for p in out.list("patterns") {
                println!("{}", p.as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}

/// `goshelf cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached versions (module, version, zip size, origin, fetch time).
    List {
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Drop cached versions: `MODULE` (every version) or `MODULE@VERSION`. They are fetched
    /// again when asked, and must hash as before (their checksum records stay).
    Evict {
        target_version: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Make a running server ask the upstream again for MODULE's list and @latest now
    /// (instead of after list_ttl). Needs --server.
    Refresh {
        module: String,
        #[command(flatten)]
        target: TargetArgs,
    },
}

/// Runs a `goshelf cache` command.
///
/// # Errors
/// Whatever the server or store refuses; `refresh` without `--server`.
pub fn cache(cmd: CacheCommand) -> anyhow::Result<()> {
    match cmd {
        CacheCommand::List { target } => {
            let out = run(&target, Op::CacheList)?;
            let list = out.list("versions");
            for v in list {
                let zip = v["zip_bytes"]
                    .as_u64()
                    .map_or_else(|| "-".to_owned(), |n| n.to_string());
                let when = crate::http::goproxy::rfc3339(v["fetched_at"].as_i64().unwrap_or(0));
                println!(
                    "{}@{}\t{zip}\t{}\t{when}",
                    v["module"].as_str().unwrap_or(""),
                    v["version"].as_str().unwrap_or(""),
                    v["origin"].as_str().unwrap_or(""),
                );
            }
            println!("{} cached versions", list.len());
        }
        CacheCommand::Evict {
            target_version,
            target,
        } => {
            let (module, version) = match target_version.rsplit_once('@') {
                Some((m, v)) => (m.to_owned(), Some(v.to_owned())),
                None => (target_version.clone(), None),
            };
            let out = run(&target, Op::CacheEvict { module, version })?;
            let n = out.field("evicted").and_then(Value::as_u64).unwrap_or(0);
            println!("evicted {n} cached versions of {target_version}");
        }
        CacheCommand::Refresh { module, target } => {
            if target.server.is_none() {
                bail!(
                    "refresh needs --server: lists are remembered in a running server's memory, \
                     not in the file"
                );
            }
            run(
                &target,
                Op::CacheRefresh {
                    module: module.clone(),
                },
            )?;
            println!("{module}: the next request asks the upstream");
        }
    }
    Ok(())
}

/// Runs `op` online or offline and returns what it answered.
fn run(target: &TargetArgs, op: Op) -> anyhow::Result<Outcome> {
    match &target.server {
        Some(server) => {
            let client = crate::client::Client::new(server, target.token.as_deref())?;
            let (method, path, body) = op.request();
            let (status, text) = client.send(method, &path, body.as_ref())?;
            if !(200..300).contains(&status) {
                bail!(
                    "{server}: {status}: {}",
                    text.lines().next().unwrap_or("").trim()
                );
            }
            let body = if text.trim().is_empty() {
                None
            } else {
                Some(serde_json::from_str(&text).context("reading the server's answer")?)
            };
            Ok(Outcome { status, body })
        }
        None => {
            let store = open_existing(&target.db)?;
            // Offline, whoever can open the file is the administrator.
            let actor = Principal {
                user: "admin".into(),
                is_admin: true,
                scope: Scope::Write,
            };
            admin::execute(&store, &actor, op, store::now_unix())
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(p) = std::env::var("GOSHELF_PASSWORD") {
        if !p.is_empty() {
            return Ok(p);
        }
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password given: use --password-stdin, GOSHELF_PASSWORD, or run at a terminal");
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if again != first {
            bail!("the two passwords differ");
        }
    }
    Ok(first)
}

fn body(outcome: &Outcome) -> &Value {
    outcome.body.as_ref().unwrap_or(&Value::Null)
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn when(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .map_or_else(|| "-".into(), crate::http::goproxy::rfc3339)
}

/// `goshelf user ...`.
///
/// # Errors
/// Whatever the server or store refuses.
pub fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            admin,
            no_password,
            password_stdin,
            target,
        } => {
            let password = if no_password {
                None
            } else {
                Some(read_password(password_stdin, true)?)
            };
            run(
                &target,
                Op::UserAdd {
                    name: name.to_ascii_lowercase(),
                    password,
                    admin,
                },
            )?;
            println!("user {name} created{}", if admin { " (admin)" } else { "" });
        }
        UserCommand::List { target } => {
            let out = run(&target, Op::UserList)?;
            println!(
                "{:<24} {:<6} {:<9} {:<20} LOOKUP-BUDGET",
                "NAME", "ADMIN", "PASSWORD", "CREATED"
            );
            for u in body(&out).as_array().into_iter().flatten() {
                let budget = match u.get("lookup_budget") {
                    Some(Value::Number(n)) => format!("{n}/hour"),
                    _ => "default".into(),
                };
                println!(
                    "{:<24} {:<6} {:<9} {:<20} {budget}",
                    text(u, "name"),
                    text(u, "is_admin"),
                    text(u, "has_password"),
                    when(u, "created_at")
                );
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            target,
        } => {
            let password = read_password(password_stdin, true)?;
            run(
                &target,
                Op::UserPasswd {
                    name: name.to_ascii_lowercase(),
                    password,
                },
            )?;
            println!("password of {name} changed");
        }
        UserCommand::SetAdmin {
            name,
            admin,
            target,
        } => {
            let admin = admin == "yes";
            run(
                &target,
                Op::UserSetAdmin {
                    name: name.to_ascii_lowercase(),
                    admin,
                },
            )?;
            println!(
                "{name} is {}an admin",
                if admin { "" } else { "no longer " }
            );
        }
        UserCommand::LookupBudget {
            name,
            budget,
            target,
        } => {
            let parsed = if budget == "default" {
                None
            } else {
                Some(budget.parse::<u64>().map_err(|_| {
                    anyhow::anyhow!("budget {budget:?}: give a number of records or `default`")
                })?)
            };
            run(
                &target,
                Op::UserSetBudget {
                    name: name.to_ascii_lowercase(),
                    budget: parsed,
                },
            )?;
            match parsed {
                Some(n) => println!("{name} may fetch {n} records per hour from upstream"),
                None => println!("{name} has the default lookup budget (sumdb_lookup_budget)"),
            }
        }
        UserCommand::Rm { name, target } => {
            run(
                &target,
                Op::UserRm {
                    name: name.to_ascii_lowercase(),
                },
            )?;
            println!("user {name} deleted (their namespace and modules stay)");
        }
    }
    Ok(())
}

/// `goshelf token ...`.
///
/// # Errors
/// Whatever the server or store refuses, or a bad --expires.
pub fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            expires,
            user,
            target,
        } => {
            let now = store::now_unix();
            let expires_at = expires
                .as_deref()
                .map(|e| admin::parse_expiry(e, now).map_err(|m| anyhow::anyhow!(m)))
                .transpose()?;
            let out = run(
                &target,
                Op::TokenCreate {
                    user: user.map(|u| u.to_ascii_lowercase()),
                    name,
                    scope: Scope::parse(&scope).unwrap_or(Scope::Read),
                    expires_at,
                },
            )?;
            let v = body(&out);
            eprintln!(
                "token {} ({}, scope {}, expires {}) for {}; shown once, stored only as a hash:",
                text(v, "id"),
                text(v, "name"),
                text(v, "scope"),
                when(v, "expires_at"),
                text(v, "user"),
            );
            println!("{}", text(v, "token"));
        }
        TokenCommand::List { user, all, target } => {
            let user = if all { Some("*".into()) } else { user };
            let out = run(&target, Op::TokenList { user })?;
            println!(
                "{:<16} {:<16} {:<20} {:<5} {:<20} {:<20} LAST USED",
                "ID", "USER", "NAME", "SCOPE", "CREATED", "EXPIRES"
            );
            for t in body(&out).as_array().into_iter().flatten() {
                println!(
                    "{:<16} {:<16} {:<20} {:<5} {:<20} {:<20} {}",
                    text(t, "id"),
                    text(t, "user"),
                    text(t, "name"),
                    text(t, "scope"),
                    when(t, "created_at"),
                    when(t, "expires_at"),
                    when(t, "last_used"),
                );
            }
        }
        TokenCommand::Revoke { id, target } => {
            run(&target, Op::TokenRevoke { id: id.clone() })?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// `goshelf org ...`.
///
/// # Errors
/// Whatever the server or store refuses.
pub fn org(cmd: OrgCommand) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Add {
            name,
            private,
            pattern,
            target,
        } => {
            for p in pattern {
                run(&target, Op::PrivateAdd { pattern: p.clone() })?;
                println!("private pattern {p} added");
            }
            let visibility = if private {
                Visibility::Private
            } else {
                Visibility::Public
            };
            run(
                &target,
                Op::OrgAdd {
                    name: name.to_ascii_lowercase(),
                    visibility,
                },
            )?;
            println!("organisation {name} created ({})", visibility.as_str());
        }
        OrgCommand::Member {
            org,
            user,
            role,
            remove,
            target,
        } => {
            let (org, user) = (org.to_ascii_lowercase(), user.to_ascii_lowercase());
            if remove {
                run(
                    &target,
                    Op::MemberRm {
                        org: org.clone(),
                        user: user.clone(),
                    },
                )?;
                println!("{user} removed from {org}");
            } else {
                run(
                    &target,
                    Op::MemberSet {
                        org: org.clone(),
                        user: user.clone(),
                        role: Scope::parse(&role).unwrap_or(Scope::Read),
                    },
                )?;
                println!("{user} is a member of {org} with role {role}");
            }
        }
    }
    Ok(())
}

fn quota_arg(text: Option<&str>, what: &str) -> anyhow::Result<Option<i64>> {
    let Some(t) = text else {
        return Ok(None);
    };
    if t.eq_ignore_ascii_case("none") {
        return Ok(Some(-1));
    }
    let n = if what == "bytes" {
        crate::config::parse_size(t)
    } else {
        t.trim().parse().ok()
    };
    n.and_then(|n| i64::try_from(n).ok())
        .map(Some)
        .with_context(|| format!("--{what}: {t:?} is not a number (or none)"))
}

/// `goshelf owner ...`.
///
/// # Errors
/// Whatever the server or store refuses.
pub fn owner(cmd: OwnerCommand) -> anyhow::Result<()> {
    match cmd {
        OwnerCommand::List { target } => {
            let out = run(&target, Op::OwnerList)?;
            println!(
                "{:<24} {:<5} {:<8} {:>9} {:>14} {:<24} MEMBERS",
                "OWNER", "KIND", "VISIBLE", "VERSIONS", "BYTES", "QUOTA (bytes/versions)"
            );
            for o in body(&out).as_array().into_iter().flatten() {
                let members: Vec<String> = o
                    .get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|m| format!("{}:{}", text(m, "user"), text(m, "role")))
                    .collect();
                let quota = format!("{}/{}", text(o, "quota_bytes"), text(o, "quota_versions"));
                println!(
                    "{:<24} {:<5} {:<8} {:>9} {:>14} {:<24} {}",
                    text(o, "name"),
                    text(o, "kind"),
                    text(o, "visibility"),
                    text(o, "versions"),
                    text(o, "bytes"),
                    quota,
                    members.join(",")
                );
                let rules: Option<crate::gomod::retention::Retention> = o
                    .get("retention")
                    .and_then(|r| serde_json::from_value(r.clone()).ok());
                if let Some(r) = rules {
                    println!("  retention: {}", r.describe());
                }
            }
        }
        OwnerCommand::Share {
            owner,
            path,
            target,
        } => {
            let owner = owner.to_ascii_lowercase();
            let said = format!("{owner} may publish {path}");
            run(&target, Op::OwnerShare { owner, path })?;
            println!("{said}");
        }
        OwnerCommand::Claim {
            owner,
            path,
            target,
        } => {
            let owner = owner.to_ascii_lowercase();
            let said = format!(
                "{owner} may host {path}; its checksum database lookups are answered here from \
                 now on"
            );
            run(&target, Op::OwnerClaim { owner, path })?;
            println!("{said}");
        }
        OwnerCommand::SetVisibility {
            owner,
            visibility,
            target,
        } => {
            let v = Visibility::parse(&visibility).unwrap_or(Visibility::Private);
            run(
                &target,
                Op::OwnerUpdate {
                    owner: owner.to_ascii_lowercase(),
                    update: OwnerUpdate {
                        visibility: Some(v),
                        ..OwnerUpdate::default()
                    },
                },
            )?;
            println!("{owner} is {}", v.as_str());
        }
        OwnerCommand::SetQuota {
            owner,
            bytes,
            versions,
            target,
        } => {
            let update = OwnerUpdate {
                visibility: None,
                quota_bytes: quota_arg(bytes.as_deref(), "bytes")?,
                quota_versions: quota_arg(versions.as_deref(), "versions")?,
            };
            if update.quota_bytes.is_none() && update.quota_versions.is_none() {
                bail!("give --bytes and/or --versions");
            }
            run(
                &target,
                Op::OwnerUpdate {
                    owner: owner.to_ascii_lowercase(),
                    update,
                },
            )?;
            println!("quota of {owner} set");
        }
        OwnerCommand::SetRetention {
            owner,
            keep_pseudo,
            keep_pseudo_days,
            prerelease_days,
            clear,
            target,
        } => {
            let rules = crate::gomod::retention::Retention {
                keep_pseudo,
                keep_pseudo_days,
                prerelease_days,
            };
            if rules.is_empty() && !clear {
                bail!(
                    "give --keep-pseudo, --keep-pseudo-days and/or --prerelease-days, or --clear"
                );
            }
            run(
                &target,
                Op::OwnerRetention {
                    owner: owner.to_ascii_lowercase(),
                    rules: (!clear).then_some(rules),
                },
            )?;
            println!("retention of {owner}: {}", rules.describe());
        }
    }
    Ok(())
}
