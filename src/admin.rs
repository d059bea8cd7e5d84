//! Account administration as one set of operations, used three ways: the JSON API under
//! `/api/v1/` (`http::api`), and the CLI, online through that API or offline on the database
//! file. `Op` is both the CLI's request and the API's parsed route, so the two cannot drift
//! (`Op::request` and `Op::from_request` are tested as inverses).
//!
//! Routes (JSON bodies; every error is a one-line `text/plain` reason):
//!
//! | op | method and path | who |
//! |---|---|---|
//! | whoami | `GET /api/v1/user` | anyone signed in |
//! | user list | `GET /api/v1/users` | admin |
//! | user add | `POST /api/v1/users` `{name, password?, admin?}` | admin |
//! | user passwd | `PUT /api/v1/users/{name}/password` `{password}` | admin, or the user |
//! | user admin | `PATCH /api/v1/users/{name}` `{admin}` | admin |
//! | user rm | `DELETE /api/v1/users/{name}` | admin |
//! | token list | `GET /api/v1/tokens[?user=NAME or ?all=true]` | own; admin any |
//! | token create | `POST /api/v1/tokens` `{name, scope, expires_at?, user?}` | own; admin any |
//! | token revoke | `DELETE /api/v1/tokens/{id}` | own; admin any |
//! | org add | `POST /api/v1/orgs` `{name, visibility?}` | admin |
//! | member set | `PUT /api/v1/orgs/{org}/members/{user}` `{role}` | admin |
//! | member rm | `DELETE /api/v1/orgs/{org}/members/{user}` | admin |
//! | owner list | `GET /api/v1/owners` | admin |
//! | owner update | `PATCH /api/v1/owners/{owner}` `{visibility?, quota_bytes?, quota_versions?}` | visibility: writers of the namespace; quotas: admin |
//! | cache list | `GET /api/v1/cache` | admin |
//! | cache evict | `DELETE /api/v1/cache/{module}[/{version}]` | admin |
//! | cache refresh | `POST /api/v1/cache/{module}/refresh` | admin (a running server's memory) |
//! | owner retention | `PUT /api/v1/owners/{owner}/retention` `{keep_pseudo?, keep_pseudo_days?, prerelease_days?}`, `DELETE` to clear | writers of the namespace |
//! | retention run | `POST /api/v1/retention/run` `{dry_run?, owner?}` | admin (a dry run: writers of `owner`) |

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{self, Access, Principal, Scope, Visibility};
use crate::store::{self, OwnerUpdate, Store};

/// One administrative operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Whoami,
    UserList,
    UserAdd {
        name: String,
        password: Option<String>,
        admin: bool,
    },
    UserPasswd {
        name: String,
        password: String,
    },
    UserSetAdmin {
        name: String,
        admin: bool,
    },
    UserRm {
        name: String,
    },
    /// Sets a user's checksum database lookup budget per hour (`None`: back to the setting
    /// `sumdb_lookup_budget`).
    UserSetBudget {
        name: String,
        budget: Option<u64>,
    },
    /// `user`: whose tokens; `None` the caller's own; `Some("*")` everyone's (admin).
    TokenList {
        user: Option<String>,
    },
    TokenCreate {
        user: Option<String>,
        name: String,
        scope: Scope,
        expires_at: Option<i64>,
    },
    TokenRevoke {
        id: String,
    },
    OrgAdd {
        name: String,
        visibility: Visibility,
    },
    MemberSet {
        org: String,
        user: String,
        role: Scope,
    },
    MemberRm {
        org: String,
        user: String,
    },
    OwnerList,
    OwnerUpdate {
        owner: String,
        update: OwnerUpdate,
    },
    /// Adds a `private` pattern (GOPRIVATE syntax).
    PrivateAdd {
        pattern: String,
    },
    /// The `private` patterns.
    PrivateList,
    /// Lets logged namespace `owner` publish module path `path`, which another one holds.
    OwnerShare {
        owner: String,
        path: String,
    },
    /// Lets namespace `owner` host module path `path` although the checksum database holds
    /// it (or paths below it) from upstream; its lookups are answered here from then on.
    OwnerClaim {
        owner: String,
        path: String,
    },
    /// The pull-through cache's versions.
    CacheList,
    /// Drops cached versions of `module` (`version`, or all of them): their files and zips
    /// go; their records in the checksum database stay, so what comes back must hash the same.
    CacheEvict {
        module: String,
        version: Option<String>,
    },
    /// Makes a running server ask the upstream again for `module`'s list, `@latest` and
    /// not-founds at the next request (they are remembered in its memory for `list_ttl`).
    CacheRefresh {
        module: String,
    },
    /// Sets (or clears, `None`) namespace `owner`'s retention rules.
    OwnerRetention {
        owner: String,
        rules: Option<crate::gomod::retention::Retention>,
    },
    /// Applies the retention rules (of `owner`, or of every namespace); `dry_run`: only
    /// lists what would go.
    RetentionRun {
        owner: Option<String>,
        dry_run: bool,
    },
}

/// What an operation answers: a status and a JSON body (none for 204).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    pub body: Option<Value>,
}

impl Outcome {
    fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body: Some(body),
        }
    }
    fn created(body: Value) -> Self {
        Self {
            status: 201,
            body: Some(body),
        }
    }
    fn done() -> Self {
        Self {
            status: 204,
            body: None,
        }
    }

    /// The body's field `key`, if it has one.
    #[must_use]
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.body.as_ref().and_then(|b| b.get(key))
    }

    /// The body's list `key`; empty when it has none.
    #[must_use]
    pub fn list(&self, key: &str) -> &[Value] {
        self.field(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 404 for an unknown route, 405 for a known route with another method.
    #[error("{0}")]
    NoRoute(String, bool),
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// A JSON body's fields, for `Op::from_request`.
#[derive(Debug, Default, Deserialize, Serialize)]
struct Body {
    name: Option<String>,
    password: Option<String>,
    admin: Option<bool>,
    scope: Option<String>,
    expires_at: Option<i64>,
    user: Option<String>,
    visibility: Option<String>,
    role: Option<String>,
    quota_bytes: Option<i64>,
    quota_versions: Option<i64>,
    lookup_budget: Option<u64>,
    keep_pseudo: Option<u32>,
    keep_pseudo_days: Option<u32>,
    prerelease_days: Option<u32>,
    dry_run: Option<bool>,
    owner: Option<String>,
}

fn enc(s: &str) -> String {
    crate::gomod::proxy::percent_encode_segment(s)
}

fn field(v: Option<String>, name: &str) -> Result<String, Error> {
    v.ok_or_else(|| Error::Invalid(format!("missing field {name:?}")))
}

fn parse_scope(s: &str) -> Result<Scope, Error> {
    Scope::parse(s).ok_or_else(|| Error::Invalid(format!("scope must be read or write, not {s:?}")))
}

fn parse_visibility(s: &str) -> Result<Visibility, Error> {
    Visibility::parse(s)
        .ok_or_else(|| Error::Invalid(format!("visibility must be public or private, not {s:?}")))
}

/// A user or owner name as typed: lower-cased and checked like an owner in a URL.
fn name_arg(s: &str) -> Result<String, Error> {
    auth::normalize_owner(s).ok_or_else(|| {
        Error::Invalid(format!(
            "invalid name {s:?}: use letters, digits, and inner '.', '_' or '-' (at most {} \
             characters)",
            auth::MAX_OWNER_LEN
        ))
    })
}

/// A module path argument (a share or claim).
fn module_path_arg(path: &str) -> Result<String, Error> {
    crate::gomod::path::check_path(path)
        .map(|()| path.to_owned())
        .map_err(|e| Error::Invalid(format!("module path {path:?}: {e}")))
}

/// A version argument of `module`: a canonical version.
fn version_arg(module: &str, version: &str) -> Result<String, Error> {
    crate::gomod::version::check(module, version)
        .map(|()| version.to_owned())
        .map_err(|e| Error::Invalid(e.to_string()))
}

impl Op {
    /// The HTTP request of this operation: method, path (from `/api/v1/`) and JSON body.
    #[must_use]
    pub fn request(&self) -> (&'static str, String, Option<Value>) {
        match self {
            Op::Whoami => ("GET", "/api/v1/user".into(), None),
            Op::UserList => ("GET", "/api/v1/users".into(), None),
            Op::UserAdd {
                name,
                password,
                admin,
            } => (
                "POST",
                "/api/v1/users".into(),
                Some(json!({"name": name, "password": password, "admin": admin})),
            ),
            Op::UserPasswd { name, password } => (
                "PUT",
                format!("/api/v1/users/{}/password", enc(name)),
                Some(json!({ "password": password })),
            ),
            Op::UserSetAdmin { name, admin } => (
                "PATCH",
                format!("/api/v1/users/{}", enc(name)),
                Some(json!({ "admin": admin })),
            ),
            Op::UserRm { name } => ("DELETE", format!("/api/v1/users/{}", enc(name)), None),
            Op::UserSetBudget { name, budget } => {
                let url = format!("/api/v1/users/{}/lookup-budget", enc(name));
                match budget {
                    Some(n) => ("PUT", url, Some(json!({ "lookup_budget": n }))),
                    None => ("DELETE", url, None),
                }
            }
            Op::TokenList { user } => {
                let q = match user.as_deref() {
                    None => String::new(),
                    Some("*") => "?all=true".into(),
                    Some(u) => format!("?user={}", enc(u)),
                };
                ("GET", format!("/api/v1/tokens{q}"), None)
            }
            Op::TokenCreate {
                user,
                name,
                scope,
                expires_at,
            } => (
                "POST",
                "/api/v1/tokens".into(),
                Some(json!({"user": user, "name": name, "scope": scope, "expires_at": expires_at})),
            ),
            Op::TokenRevoke { id } => ("DELETE", format!("/api/v1/tokens/{}", enc(id)), None),
            Op::OrgAdd { name, visibility } => (
                "POST",
                "/api/v1/orgs".into(),
                Some(json!({"name": name, "visibility": visibility})),
            ),
            Op::MemberSet { org, user, role } => (
                "PUT",
                format!("/api/v1/orgs/{}/members/{}", enc(org), enc(user)),
                Some(json!({ "role": role })),
            ),
            Op::MemberRm { org, user } => (
                "DELETE",
                format!("/api/v1/orgs/{}/members/{}", enc(org), enc(user)),
                None,
            ),
            Op::OwnerList => ("GET", "/api/v1/owners".into(), None),
            Op::OwnerUpdate { owner, update } => (
                "PATCH",
                format!("/api/v1/owners/{}", enc(owner)),
                Some(serde_json::to_value(update).unwrap_or(Value::Null)),
            ),
            Op::PrivateAdd { pattern } => {
                ("PUT", format!("/api/v1/private/{}", enc(pattern)), None)
            }
            Op::PrivateList => ("GET", "/api/v1/private".into(), None),
            Op::OwnerShare { owner, path } => (
                "PUT",
                format!("/api/v1/owners/{}/shares/{}", enc(owner), enc(path)),
                None,
            ),
            Op::OwnerClaim { owner, path } => (
                "PUT",
                format!("/api/v1/owners/{}/claims/{}", enc(owner), enc(path)),
                None,
            ),
            Op::CacheList => ("GET", "/api/v1/cache".into(), None),
            Op::CacheEvict { module, version } => {
                let v = version
                    .as_deref()
                    .map_or_else(String::new, |v| format!("/{}", enc(v)));
                ("DELETE", format!("/api/v1/cache/{}{v}", enc(module)), None)
            }
            Op::CacheRefresh { module } => (
                "POST",
                format!("/api/v1/cache/{}/refresh", enc(module)),
                None,
            ),
            Op::OwnerRetention { owner, rules } => {
                let url = format!("/api/v1/owners/{}/retention", enc(owner));
                match rules {
                    Some(r) => ("PUT", url, Some(json_of(r))),
                    None => ("DELETE", url, None),
                }
            }
            Op::RetentionRun { owner, dry_run } => (
                "POST",
                "/api/v1/retention/run".into(),
                Some(json!({"dry_run": dry_run, "owner": owner})),
            ),
        }
    }

    /// Parses an API request: `segments` are the percent-decoded path segments after
    /// `/api/v1/`, `query` the query pairs, `body` the raw body (empty or JSON).
    ///
    /// # Errors
    /// `NoRoute` for an unknown path or method, `Invalid` for a bad body.
    pub fn from_request(
        method: &str,
        segments: &[&str],
        query: &[(String, String)],
        body: &[u8],
    ) -> Result<Op, Error> {
        let body = || -> Result<Body, Error> {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Body::default());
            }
            serde_json::from_slice(body).map_err(|e| Error::Invalid(format!("bad JSON body: {e}")))
        };
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let known = |allowed: &[&str]| -> Error {
            let path = segments.join("/");
            if allowed.contains(&method) {
                Error::NoRoute(format!("not found: /api/v1/{path}"), false)
            } else {
                Error::NoRoute(
                    format!("method {method} not allowed on /api/v1/{path}"),
                    true,
                )
            }
        };
        Ok(match (segments, method) {
            (["user"], "GET") => Op::Whoami,
            (["user"], _) => return Err(known(&["GET"])),
            (["users"], "GET") => Op::UserList,
            (["users"], "POST") => {
                let b = body()?;
                Op::UserAdd {
                    name: name_arg(&field(b.name, "name")?)?,
                    password: b.password,
                    admin: b.admin.unwrap_or(false),
                }
            }
            (["users"], _) => return Err(known(&["GET", "POST"])),
            (["users", name], "PATCH") => Op::UserSetAdmin {
                name: name_arg(name)?,
                admin: body()?
                    .admin
                    .ok_or_else(|| Error::Invalid("missing field \"admin\"".into()))?,
            },
            (["users", name], "DELETE") => Op::UserRm {
                name: name_arg(name)?,
            },
            (["users", _], _) => return Err(known(&["PATCH", "DELETE"])),
            (["users", name, "password"], "PUT") => Op::UserPasswd {
                name: name_arg(name)?,
                password: field(body()?.password, "password")?,
            },
            (["users", _, "password"], _) => return Err(known(&["PUT"])),
            (["users", name, "lookup-budget"], "PUT") => Op::UserSetBudget {
                name: name_arg(name)?,
                budget: Some(body()?.lookup_budget.ok_or_else(|| {
                    Error::Invalid("missing field \"lookup_budget\" (records per hour)".into())
                })?),
            },
            (["users", name, "lookup-budget"], "DELETE") => Op::UserSetBudget {
                name: name_arg(name)?,
                budget: None,
            },
            (["users", _, "lookup-budget"], _) => return Err(known(&["PUT", "DELETE"])),
            (["tokens"], "GET") => Op::TokenList {
                user: if q("all").as_deref() == Some("true") {
                    Some("*".into())
                } else {
                    q("user").map(|u| name_arg(&u)).transpose()?
                },
            },
            (["tokens"], "POST") => {
                let b = body()?;
                Op::TokenCreate {
                    user: b.user.map(|u| name_arg(&u)).transpose()?,
                    name: field(b.name, "name")?,
                    scope: parse_scope(b.scope.as_deref().unwrap_or("write"))?,
                    expires_at: b.expires_at,
                }
            }
            (["tokens"], _) => return Err(known(&["GET", "POST"])),
            (["tokens", id], "DELETE") => Op::TokenRevoke {
                id: (*id).to_owned(),
            },
            (["tokens", _], _) => return Err(known(&["DELETE"])),
            (["orgs"], "POST") => {
                let b = body()?;
                Op::OrgAdd {
                    name: name_arg(&field(b.name, "name")?)?,
                    visibility: parse_visibility(b.visibility.as_deref().unwrap_or("public"))?,
                }
            }
            (["orgs"], _) => return Err(known(&["POST"])),
            (["orgs", org, "members", user], "PUT") => Op::MemberSet {
                org: name_arg(org)?,
                user: name_arg(user)?,
                role: parse_scope(&field(body()?.role, "role")?)?,
            },
            (["orgs", org, "members", user], "DELETE") => Op::MemberRm {
                org: name_arg(org)?,
                user: name_arg(user)?,
            },
            (["orgs", _, "members", _], _) => return Err(known(&["PUT", "DELETE"])),
            (["owners"], "GET") => Op::OwnerList,
            (["owners"], _) => return Err(known(&["GET"])),
            (["owners", owner], "PATCH") => {
                let b = body()?;
                Op::OwnerUpdate {
                    owner: name_arg(owner)?,
                    update: OwnerUpdate {
                        visibility: b.visibility.as_deref().map(parse_visibility).transpose()?,
                        quota_bytes: b.quota_bytes,
                        quota_versions: b.quota_versions,
                    },
                }
            }
            (["owners", _], _) => return Err(known(&["PATCH"])),
            (["owners", owner, "shares", path], "PUT") => Op::OwnerShare {
                owner: name_arg(owner)?,
                path: module_path_arg(path)?,
            },
            (["owners", _, "shares", _], _) => return Err(known(&["PUT"])),
            (["owners", owner, "claims", path], "PUT") => Op::OwnerClaim {
                owner: name_arg(owner)?,
                path: module_path_arg(path)?,
            },
            (["owners", _, "claims", _], _) => return Err(known(&["PUT"])),
            (["owners", owner, "retention"], "PUT") => {
                let b = body()?;
                let rules = crate::gomod::retention::Retention {
                    keep_pseudo: b.keep_pseudo,
                    keep_pseudo_days: b.keep_pseudo_days,
                    prerelease_days: b.prerelease_days,
                };
                if rules.is_empty() {
                    return Err(Error::Invalid(
                        "give keep_pseudo, keep_pseudo_days and/or prerelease_days (DELETE \
                         clears the rules)"
                            .into(),
                    ));
                }
                Op::OwnerRetention {
                    owner: name_arg(owner)?,
                    rules: Some(rules),
                }
            }
            (["owners", owner, "retention"], "DELETE") => Op::OwnerRetention {
                owner: name_arg(owner)?,
                rules: None,
            },
            (["owners", _, "retention"], _) => return Err(known(&["PUT", "DELETE"])),
            (["retention", "run"], "POST") => {
                let b = body()?;
                Op::RetentionRun {
                    owner: b.owner.map(|o| name_arg(&o)).transpose()?,
                    dry_run: b.dry_run.unwrap_or(false),
                }
            }
            (["retention", "run"], _) => return Err(known(&["POST"])),
            (["private"], "GET") => Op::PrivateList,
            (["private"], _) => return Err(known(&["GET"])),
            (["private", pattern], "PUT") => {
                crate::gomod::patterns::check_pattern(pattern).map_err(Error::Invalid)?;
                Op::PrivateAdd {
                    pattern: (*pattern).to_owned(),
                }
            }
            (["private", _], _) => return Err(known(&["PUT"])),
            (["cache"], "GET") => Op::CacheList,
            (["cache"], _) => return Err(known(&["GET"])),
            (["cache", module], "DELETE") => Op::CacheEvict {
                module: module_path_arg(module)?,
                version: None,
            },
            (["cache", _], _) => return Err(known(&["DELETE"])),
            (["cache", module, "refresh"], "POST") => Op::CacheRefresh {
                module: module_path_arg(module)?,
            },
            (["cache", module, version], "DELETE") => Op::CacheEvict {
                module: module_path_arg(module)?,
                version: Some(version_arg(module, version)?),
            },
            (["cache", _, _], _) => return Err(known(&["DELETE", "POST"])),
            _ => {
                return Err(Error::NoRoute(
                    format!("not found: /api/v1/{}", segments.join("/")),
                    false,
                ))
            }
        })
    }
}

fn need_admin(actor: &Principal, what: &str) -> Result<(), Error> {
    if actor.is_admin_writer() {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only an admin with a write credential may {what}"
        )))
    }
}

fn need_write(actor: &Principal, what: &str) -> Result<(), Error> {
    if actor.scope == Scope::Write {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "a read-only token may not {what}; use a write token or a password"
        )))
    }
}

fn json_of<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs `op` for `actor` at Unix time `now`. Checks every permission; hashes passwords
/// (argon2, slow: call from a blocking context).
///
/// # Errors
/// `Forbidden`, `Invalid`, `NotFound`, or a store error.
pub fn execute(store: &Store, actor: &Principal, op: Op, now: i64) -> Result<Outcome, Error> {
    match op {
        Op::Whoami => Ok(Outcome::ok(json!({
            "user": actor.user, "admin": actor.is_admin, "scope": actor.scope
        }))),
        Op::UserList => {
            if !actor.is_admin {
                return Err(Error::Forbidden("only an admin may list users".into()));
            }
            Ok(Outcome::ok(json_of(&store.list_users()?)))
        }
        Op::UserAdd {
            name,
            password,
            admin,
        } => {
            need_admin(actor, "add users")?;
            let phc = password.as_deref().map(new_password_hash).transpose()?;
            let info = store.create_user(&name, phc, admin, now)?;
            Ok(Outcome::created(json_of(&info)))
        }
        Op::UserPasswd { name, password } => {
            if actor.user != name {
                need_admin(actor, "change another user's password")?;
            }
            need_write(actor, "change a password")?;
            let phc = new_password_hash(&password)?;
            store.set_password(&name, phc)?;
            Ok(Outcome::done())
        }
        Op::UserSetAdmin { name, admin } => {
            need_admin(actor, "grant or withdraw admin rights")?;
            store.set_admin(&name, admin)?;
            Ok(Outcome::done())
        }
        Op::UserRm { name } => {
            need_admin(actor, "delete users")?;
            store.delete_user(&name)?;
            Ok(Outcome::done())
        }
        Op::UserSetBudget { name, budget } => {
            need_admin(actor, "set checksum database lookup budgets")?;
            store.set_lookup_budget(&name, budget)?;
            Ok(Outcome::done())
        }
        Op::TokenList { user } => {
            let who = match user.as_deref() {
                None => Some(actor.user.as_str()),
                Some(u) if u == actor.user => Some(u),
                Some(other) => {
                    if !actor.is_admin {
                        return Err(Error::Forbidden(
                            "only an admin may list other users' tokens".into(),
                        ));
                    }
                    (other != "*").then_some(other)
                }
            };
            Ok(Outcome::ok(json_of(&store.list_tokens_of(who)?)))
        }
        Op::TokenCreate {
            user,
            name,
            scope,
            expires_at,
        } => {
            let owner = user.unwrap_or_else(|| actor.user.clone());
            if owner != actor.user {
                need_admin(actor, "create tokens for other users")?;
            }
            need_write(actor, "create tokens")?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(Error::Invalid(
                    "a token name must have 1 to 64 printable characters".into(),
                ));
            }
            if expires_at.is_some_and(|t| t <= now) {
                return Err(Error::Invalid("expires_at is in the past".into()));
            }
            let (secret, info) = store.create_token(&owner, name, scope, expires_at, now)?;
            let mut body = json_of(&info);
            if let Value::Object(map) = &mut body {
                map.insert("token".into(), Value::String(secret));
            }
            Ok(Outcome::created(body))
        }
        Op::TokenRevoke { id } => {
            need_write(actor, "revoke tokens")?;
            let whose = (!actor.is_admin).then_some(actor.user.as_str());
            if store.revoke_token_of(whose, &id)? {
                Ok(Outcome::done())
            } else {
                Err(Error::NotFound(format!("no such token: {id}")))
            }
        }
        Op::OrgAdd { name, visibility } => {
            need_admin(actor, "add organisations")?;
            store.create_org(&name, visibility, now)?;
            Ok(Outcome::created(
                json!({"name": name, "kind": "org", "visibility": visibility}),
            ))
        }
        Op::MemberSet { org, user, role } => {
            need_admin(actor, "change organisation members")?;
            store.set_member(&org, &user, role, now)?;
            Ok(Outcome::done())
        }
        Op::MemberRm { org, user } => {
            need_admin(actor, "change organisation members")?;
            if store.remove_member(&org, &user)? {
                Ok(Outcome::done())
            } else {
                Err(Error::NotFound(format!("{user} is not a member of {org}")))
            }
        }
        Op::OwnerList => {
            if !actor.is_admin {
                return Err(Error::Forbidden("only an admin may list owners".into()));
            }
            Ok(Outcome::ok(json_of(&store.list_owners()?)))
        }
        Op::PrivateAdd { pattern } => {
            need_admin(actor, "add a private pattern")?;
            store.private_add([pattern.as_str()])?;
            Ok(Outcome::done())
        }
        // The patterns name every private organisation's paths: an admin's to read.
        Op::PrivateList => {
            need_admin(actor, "list the private patterns")?;
            Ok(Outcome::ok(json!({
                "patterns": store
                    .private_patterns()?
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
            })))
        }
        Op::OwnerShare { owner, path } => {
            need_admin(actor, "share a module path between namespaces")?;
            store.sumdb_share(&owner, &path)?;
            Ok(Outcome::done())
        }
        Op::OwnerClaim { owner, path } => {
            need_admin(
                actor,
                "claim a module path from the upstream checksum database",
            )?;
            store.sumdb_claim(&owner, &path)?;
            Ok(Outcome::done())
        }
        Op::CacheList => {
            if !actor.is_admin {
                return Err(Error::Forbidden(
                    "only an admin may list the pull-through cache".into(),
                ));
            }
            let list: Vec<Value> = store
                .cached_all()?
                .into_iter()
                .map(|(module, version, r)| {
                    json!({
                        "module": module,
                        "version": version,
                        "origin": r.origin,
                        "fetched_at": r.fetched_at,
                        "last_used": r.last_used,
                        "zip_bytes": r.size,
                        "h1": r.h1,
                        "go_mod_h1": r.mod_h1,
                    })
                })
                .collect();
            Ok(Outcome::ok(json!({ "versions": list })))
        }
        Op::CacheEvict { module, version } => {
            need_admin(actor, "evict from the pull-through cache")?;
            let removed = store.cache_remove(&module, version.as_deref())?;
            if removed == 0 {
                return Err(Error::NotFound(format!(
                    "{module}{}: not in the pull-through cache",
                    version.map(|v| format!("@{v}")).unwrap_or_default()
                )));
            }
            Ok(Outcome::ok(json!({ "evicted": removed })))
        }
        // What is refreshed lives in the running server's memory (`http::api` forgets it);
        // the file holds nothing to change.
        Op::CacheRefresh { .. } => {
            need_admin(actor, "refresh the pull-through cache")?;
            Ok(Outcome::done())
        }
        Op::OwnerRetention { owner, rules } => {
            if store.namespace_access(&owner, Some(actor))? < Access::Write {
                return Err(Error::Forbidden(format!(
                    "{} may not set the retention rules of {owner}",
                    actor.user
                )));
            }
            need_write(actor, "set retention rules")?;
            store.set_retention(&owner, rules)?;
            Ok(Outcome::ok(json!({
                "owner": owner,
                "rules": rules,
                "describe": rules.unwrap_or_default().describe(),
            })))
        }
        Op::RetentionRun { owner, dry_run } => {
            match (&owner, dry_run) {
                (Some(o), true) if store.namespace_access(o, Some(actor))? >= Access::Write => {}
                _ => need_admin(actor, "run the retention rules")?,
            }
            let listed = if dry_run {
                store.retention_plan(owner.as_deref(), now)?
            } else {
                run_retention(store, owner.as_deref(), now)?
            };
            Ok(Outcome::ok(
                json!({ "dry_run": dry_run, "removed": listed }),
            ))
        }
        Op::OwnerUpdate { owner, update } => {
            if update.quota_bytes.is_some() || update.quota_versions.is_some() {
                need_admin(actor, "set quotas")?;
            } else if store.namespace_access(&owner, Some(actor))? < Access::Write {
                return Err(Error::Forbidden(format!(
                    "{} may not change the visibility of {owner}",
                    actor.user
                )));
            }
            for q in [update.quota_bytes, update.quota_versions]
                .into_iter()
                .flatten()
            {
                if q < -1 {
                    return Err(Error::Invalid(
                        "a quota is a number of bytes or versions, or -1 for no limit".into(),
                    ));
                }
            }
            store.update_owner(&owner, &update)?;
            Ok(Outcome::done())
        }
    }
}

/// Applies the retention rules (of `owner`, or of every namespace) at `now`, logging each
/// version removed; returns them. The one way a run happens: `goshelf retention run`, the
/// API and `retention_schedule`.
///
/// # Errors
/// Storage errors (what was removed before stays removed).
pub fn run_retention(
    store: &Store,
    owner: Option<&str>,
    now: i64,
) -> Result<Vec<store::Retired>, store::Error> {
    let plan = store.retention_plan(owner, now)?;
    let done = store.retention_apply(plan, now)?;
    for r in &done {
        tracing::info!(
            "retention: removed {}@{} of {} ({})",
            r.module,
            r.version,
            r.owner,
            r.reason
        );
    }
    tracing::info!("retention run: {} versions removed", done.len());
    Ok(done)
}

/// Parses an expiry: a duration from `now` (`90d`, `12h`, `30m`) or a UTC date
/// (`2027-01-31`, midnight) or an RFC 3339 time; returns Unix seconds.
///
/// # Errors
/// A one-line reason.
pub fn parse_expiry(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad =
        || format!("--expires {t:?}: use a duration like 90d, 12h, 30m or a date like 2027-01-31");
    let duration = t.len() > 1
        && t.ends_with(|c: char| c.is_ascii_alphabetic())
        && t[..t.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-');
    if let Some(unit) = t.chars().last().filter(|_| duration) {
        let n: i64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
        let secs = match unit {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            _ => return Err(bad()),
        };
        if n <= 0 {
            return Err(bad());
        }
        return n
            .checked_mul(secs)
            .and_then(|d| now.checked_add(d))
            .ok_or_else(bad);
    }
    let rfc = time::format_description::well_known::Rfc3339;
    if let Ok(at) = time::OffsetDateTime::parse(t, &rfc) {
        return Ok(at.unix_timestamp());
    }
    let parts: Vec<&str> = t.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i32, u8, u8) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

fn new_password_hash(password: &str) -> Result<String, Error> {
    auth::check_new_password(password).map_err(Error::Invalid)?;
    auth::hash_password(password).map_err(Error::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gomod::retention::Retention;

    fn split(path: &str) -> (Vec<String>, Vec<(String, String)>) {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let segs = p
            .trim_start_matches("/api/v1/")
            .split('/')
            .map(|s| crate::gomod::proxy::percent_decode(s).unwrap())
            .collect();
        let query = q
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (
                    k.to_owned(),
                    crate::gomod::proxy::percent_decode(v).unwrap(),
                )
            })
            .collect();
        (segs, query)
    }

    #[test]
    fn request_and_from_request_are_inverses() {
        let ops = vec![
            Op::Whoami,
            Op::UserList,
            Op::OwnerRetention {
                owner: "acme".into(),
                rules: Some(crate::gomod::retention::Retention {
                    keep_pseudo: Some(3),
                    keep_pseudo_days: None,
                    prerelease_days: Some(30),
                }),
            },
            Op::OwnerRetention {
                owner: "acme".into(),
                rules: None,
            },
            Op::RetentionRun {
                owner: None,
                dry_run: true,
            },
            Op::RetentionRun {
                owner: Some("acme".into()),
                dry_run: false,
            },
            Op::UserAdd {
                name: "bob".into(),
                password: Some("pw pw pw pw".into()),
                admin: true,
            },
            Op::UserAdd {
                name: "carl".into(),
                password: None,
                admin: false,
            },
            Op::UserPasswd {
                name: "bob".into(),
                password: "x".into(),
            },
            Op::UserSetAdmin {
                name: "bob".into(),
                admin: false,
            },
            Op::UserRm { name: "bob".into() },
            Op::TokenList { user: None },
            Op::TokenList {
                user: Some("*".into()),
            },
            Op::TokenList {
                user: Some("bob".into()),
            },
            Op::TokenCreate {
                user: Some("bob".into()),
                name: "ci / laptop".into(),
                scope: Scope::Read,
                expires_at: Some(1_900_000_000),
            },
            Op::TokenRevoke {
                id: "0123456789abcdef".into(),
            },
            Op::OrgAdd {
                name: "acme".into(),
                visibility: Visibility::Private,
            },
            Op::MemberSet {
                org: "acme".into(),
                user: "bob".into(),
                role: Scope::Write,
            },
            Op::MemberRm {
                org: "acme".into(),
                user: "bob".into(),
            },
            Op::OwnerList,
            Op::OwnerUpdate {
                owner: "acme".into(),
                update: OwnerUpdate {
                    visibility: Some(Visibility::Public),
                    quota_bytes: Some(-1),
                    quota_versions: None,
                },
            },
            Op::OwnerShare {
                owner: "beta".into(),
                path: "example.com/Upper/lib".into(),
            },
            Op::OwnerClaim {
                owner: "acme".into(),
                path: "golang.org/x".into(),
            },
            Op::UserSetBudget {
                name: "ci".into(),
                budget: Some(50_000),
            },
            Op::UserSetBudget {
                name: "ci".into(),
                budget: None,
            },
            Op::PrivateAdd {
                pattern: "*.corp.example.com/team".into(),
            },
            Op::PrivateList,
            Op::CacheList,
            Op::CacheEvict {
                module: "golang.org/x/text".into(),
                version: None,
            },
            Op::CacheEvict {
                module: "github.com/Upper/Case".into(),
                version: Some("v2.0.0+incompatible".into()),
            },
            Op::CacheRefresh {
                module: "golang.org/x/text".into(),
            },
        ];
        for op in ops {
            let (method, path, body) = op.request();
            let (segs, query) = split(&path);
            let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let back = Op::from_request(method, &segs, &query, body.as_bytes()).unwrap();
            assert_eq!(back, op, "{method} {path} {body}");
        }
    }

    /// The operations of the checksum database's paths, patterns and budgets are an admin's:
    /// a signed-in writer without admin rights gets `Forbidden`, and the store is unchanged.
    #[test]
    fn path_pattern_and_budget_operations_are_an_admins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a.redb")).unwrap();
        let writer = Principal {
            user: "bob".into(),
            is_admin: false,
            scope: Scope::Write,
        };
        let reader_admin = Principal {
            user: "root".into(),
            is_admin: true,
            scope: Scope::Read,
        };
        let before = store.private_patterns().unwrap();
        for op in [
            Op::OwnerShare {
                owner: "bob".into(),
                path: "example.com/a".into(),
            },
            Op::OwnerClaim {
                owner: "bob".into(),
                path: "golang.org/x".into(),
            },
            Op::UserSetBudget {
                name: "bob".into(),
                budget: Some(1),
            },
            Op::PrivateAdd {
                pattern: "bob.example".into(),
            },
            Op::PrivateList,
            Op::CacheEvict {
                module: "golang.org/x/text".into(),
                version: None,
            },
            Op::CacheRefresh {
                module: "golang.org/x/text".into(),
            },
        ] {
            for actor in [&writer, &reader_admin] {
                let got = execute(&store, actor, op.clone(), 0);
                assert!(matches!(got, Err(Error::Forbidden(_))), "{op:?}: {got:?}");
            }
        }
        assert!(matches!(
            execute(&store, &writer, Op::CacheList, 0),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(store.private_patterns().unwrap(), before);
        assert!(store.sumdb_claims().unwrap().is_empty());
        assert!(!store.sumdb_hosted_here("example.com/a").unwrap());
    }

    /// A file with an admin (`root`), three users, a private organisation `acme` with
    /// `alice` writing and `bob` reading, and a read token of bob's; its id.
    fn world() -> (tempfile::TempDir, Store, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("w.redb")).unwrap();
        store.create_user("root", None, true, 0).unwrap();
        for name in ["alice", "bob", "carol"] {
            store.create_user(name, None, false, 0).unwrap();
        }
        store.create_org("acme", Visibility::Private, 0).unwrap();
        store.set_member("acme", "alice", Scope::Write, 0).unwrap();
        store.set_member("acme", "bob", Scope::Read, 0).unwrap();
        let (_, token) = store
            .create_token("bob", "ci", Scope::Read, None, 0)
            .unwrap();
        (dir, store, token.id)
    }

    /// What the operations can change, as one comparable text.
    fn snapshot(store: &Store) -> String {
        format!(
            "{:?}",
            (
                store.list_users().unwrap(),
                store.list_tokens_of(None).unwrap(),
                store.list_owners().unwrap(),
                store.private_patterns().unwrap(),
                store.sumdb_claims().unwrap(),
                store.sumdb_hosted_here("example.com/a").unwrap(),
            )
        )
    }

    /// Every operation against every kind of caller, each on a fresh file: `Y` done, `n`
    /// refused (`Forbidden`), `N` answered as if the thing did not exist (`NotFound`). A
    /// refusal changes nothing; an operation marked as changing the file changes it.
    /// Callers: root writing, root with a read token, alice (acme's writer) writing, alice
    /// with a read token, bob (acme's reader) writing, carol (no member) writing.
    #[test]
    #[allow(clippy::too_many_lines)]
    fn who_may_do_what() {
        let callers = [
            ("root", true, Scope::Write),
            ("root", true, Scope::Read),
            ("alice", false, Scope::Write),
            ("alice", false, Scope::Read),
            ("bob", false, Scope::Write),
            ("carol", false, Scope::Write),
        ]
        .map(|(user, is_admin, scope)| Principal {
            user: user.into(),
            is_admin,
            scope,
        });
        let rules = Retention {
            keep_pseudo: Some(3),
            ..Retention::default()
        };
        let visibility = OwnerUpdate {
            visibility: Some(Visibility::Public),
            ..OwnerUpdate::default()
        };
        let quota = OwnerUpdate {
            quota_bytes: Some(1 << 20),
            ..OwnerUpdate::default()
        };
        // (operation, whether it changes the file when done, what each caller gets); the
        // token revoked is the world's own token of bob's.
        let table: Vec<(Op, bool, &str)> = vec![
            (Op::Whoami, false, "YYYYYY"),
            (Op::UserList, false, "YYnnnn"),
            (
                Op::UserAdd {
                    name: "dave".into(),
                    password: None,
                    admin: false,
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::UserPasswd {
                    name: "alice".into(),
                    password: "a long enough passphrase".into(),
                },
                true,
                "YnYnnn",
            ),
            (
                Op::UserSetAdmin {
                    name: "carol".into(),
                    admin: true,
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::UserRm {
                    name: "carol".into(),
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::UserSetBudget {
                    name: "carol".into(),
                    budget: Some(5),
                },
                true,
                "Ynnnnn",
            ),
            (Op::TokenList { user: None }, false, "YYYYYY"),
            (
                Op::TokenList {
                    user: Some("bob".into()),
                },
                false,
                "YYnnYn",
            ),
            (
                Op::TokenList {
                    user: Some("*".into()),
                },
                false,
                "YYnnnn",
            ),
            (
                Op::TokenCreate {
                    user: None,
                    name: "t".into(),
                    scope: Scope::Read,
                    expires_at: None,
                },
                true,
                "YnYnYY",
            ),
            (
                Op::TokenCreate {
                    user: Some("bob".into()),
                    name: "t".into(),
                    scope: Scope::Write,
                    expires_at: None,
                },
                true,
                "YnnnYn",
            ),
            // Someone else's token is no token at all to a non-admin.
            (Op::TokenRevoke { id: "bob's".into() }, true, "YnNnYN"),
            (
                Op::OrgAdd {
                    name: "beta".into(),
                    visibility: Visibility::Public,
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::MemberSet {
                    org: "acme".into(),
                    user: "carol".into(),
                    role: Scope::Read,
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::MemberRm {
                    org: "acme".into(),
                    user: "bob".into(),
                },
                true,
                "Ynnnnn",
            ),
            (Op::OwnerList, false, "YYnnnn"),
            (
                Op::OwnerUpdate {
                    owner: "acme".into(),
                    update: visibility.clone(),
                },
                true,
                "YnYnnn",
            ),
            (
                Op::OwnerUpdate {
                    owner: "acme".into(),
                    update: quota,
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::PrivateAdd {
                    pattern: "*.corp.example".into(),
                },
                true,
                "Ynnnnn",
            ),
            (Op::PrivateList, false, "Ynnnnn"),
            (
                Op::OwnerShare {
                    owner: "acme".into(),
                    path: "example.com/a".into(),
                },
                true,
                "Ynnnnn",
            ),
            (
                Op::OwnerClaim {
                    owner: "acme".into(),
                    path: "golang.org/x".into(),
                },
                true,
                "Ynnnnn",
            ),
            (Op::CacheList, false, "YYnnnn"),
            (
                Op::CacheEvict {
                    module: "golang.org/x/text".into(),
                    version: None,
                },
                false,
                "Nnnnnn",
            ),
            (
                Op::CacheRefresh {
                    module: "golang.org/x/text".into(),
                },
                false,
                "Ynnnnn",
            ),
            (
                Op::OwnerRetention {
                    owner: "acme".into(),
                    rules: Some(rules),
                },
                true,
                "YnYnnn",
            ),
            (
                Op::RetentionRun {
                    owner: Some("acme".into()),
                    dry_run: true,
                },
                false,
                "YnYnnn",
            ),
            (
                Op::RetentionRun {
                    owner: Some("acme".into()),
                    dry_run: false,
                },
                false,
                "Ynnnnn",
            ),
            (
                Op::RetentionRun {
                    owner: None,
                    dry_run: true,
                },
                false,
                "Ynnnnn",
            ),
        ];
        // One world, copied for each case (its commits wait for the disk).
        let (world_dir, world_store, bobs_token) = world();
        drop(world_store);
        let template = world_dir.path().join("w.redb");
        for (op, changes, want) in table {
            for (caller, want) in callers.iter().zip(want.chars()) {
                let dir = tempfile::tempdir().unwrap();
                std::fs::copy(&template, dir.path().join("w.redb")).unwrap();
                let store = Store::open(&dir.path().join("w.redb")).unwrap();
                let op = match &op {
                    Op::TokenRevoke { .. } => Op::TokenRevoke {
                        id: bobs_token.clone(),
                    },
                    op => op.clone(),
                };
                let before = snapshot(&store);
                let got = execute(&store, caller, op.clone(), 1);
                let what = format!("{op:?} by {} ({:?}): {got:?}", caller.user, caller.scope);
                match want {
                    'Y' => {
                        assert!(got.is_ok(), "{what}");
                        assert_eq!(snapshot(&store) != before, changes, "{what}");
                    }
                    'n' => {
                        assert!(matches!(got, Err(Error::Forbidden(_))), "{what}");
                        assert_eq!(snapshot(&store), before, "{what}");
                    }
                    _ => {
                        assert!(matches!(got, Err(Error::NotFound(_))), "{what}");
                        assert_eq!(snapshot(&store), before, "{what}");
                    }
                }
            }
        }
    }

    /// What the operations check of their arguments: token names (1 to 64 printable
    /// characters, trimmed), expiry times (after now), quotas (-1 or more), whose tokens an
    /// admin lists (`*`: everyone's), and that a password is stored as a hash it verifies.
    #[test]
    fn operations_check_their_arguments() {
        let (_dir, store, _) = world();
        let alice = Principal {
            user: "alice".into(),
            is_admin: false,
            scope: Scope::Write,
        };
        let root = Principal {
            user: "root".into(),
            is_admin: true,
            scope: Scope::Write,
        };
        let create = |name: &str, expires_at: Option<i64>| {
            execute(
                &store,
                &alice,
                Op::TokenCreate {
                    user: None,
                    name: name.into(),
                    scope: Scope::Read,
                    expires_at,
                },
                100,
            )
        };
        for bad in ["", "   ", &"x".repeat(65), "tab\there"] {
            assert!(
                matches!(create(bad, None), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
        for bad in [Some(100), Some(99)] {
            assert!(
                matches!(create("t", bad), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
        let made = create(&format!(" {} ", "é".repeat(64)), Some(101)).unwrap();
        assert_eq!(made.status, 201);
        assert_eq!(made.field("name"), Some(&json!("é".repeat(64))));
        assert!(made.field("token").and_then(Value::as_str).is_some());

        let tokens = |user: &str| {
            execute(
                &store,
                &root,
                Op::TokenList {
                    user: Some(user.into()),
                },
                100,
            )
            .unwrap()
            .body
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["user"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
        };
        assert_eq!(tokens("bob"), ["bob"]);
        let mut all = tokens("*");
        all.sort();
        assert_eq!(all, ["alice", "bob"]);

        let quota = |q: i64| OwnerUpdate {
            quota_bytes: Some(q),
            ..OwnerUpdate::default()
        };
        let update = |q: i64| {
            execute(
                &store,
                &root,
                Op::OwnerUpdate {
                    owner: "acme".into(),
                    update: quota(q),
                },
                100,
            )
        };
        assert!(matches!(update(-2), Err(Error::Invalid(_))));
        assert_eq!(update(-1).unwrap().status, 204);
        assert_eq!(update(0).unwrap().status, 204);

        let password = "a long enough passphrase";
        execute(
            &store,
            &alice,
            Op::UserPasswd {
                name: "alice".into(),
                password: password.into(),
            },
            100,
        )
        .unwrap();
        assert!(store.verify_password("alice", password).unwrap().is_some());
        assert!(store.verify_password("alice", "xyzzy").unwrap().is_none());
        let short = Op::UserPasswd {
            name: "alice".into(),
            password: "short".into(),
        };
        assert!(matches!(
            execute(&store, &alice, short, 100),
            Err(Error::Invalid(_))
        ));
    }

    /// A private organisation is refused to a stranger in the same words as one that does
    /// not exist: the refusal is no hint that it does.
    #[test]
    fn a_private_namespace_is_refused_like_a_missing_one() {
        let (_dir, store, _) = world();
        let carol = Principal {
            user: "carol".into(),
            is_admin: false,
            scope: Scope::Write,
        };
        let refusal = |owner: &str| {
            let ops = [
                Op::OwnerUpdate {
                    owner: owner.into(),
                    update: OwnerUpdate {
                        visibility: Some(Visibility::Public),
                        ..OwnerUpdate::default()
                    },
                },
                Op::OwnerRetention {
                    owner: owner.into(),
                    rules: None,
                },
                Op::RetentionRun {
                    owner: Some(owner.into()),
                    dry_run: true,
                },
            ];
            ops.map(|op| match execute(&store, &carol, op, 1) {
                Err(Error::Forbidden(m)) => m.replace(owner, "OWNER"),
                other => panic!("{owner}: {other:?}"),
            })
        };
        assert_eq!(refusal("acme"), refusal("nosuch"));
    }

    #[test]
    fn an_answer_reads_its_fields_and_lists() {
        let out = Outcome::ok(json!({"evicted": 2, "versions": [1, 2, 3], "name": "x"}));
        assert_eq!(out.field("evicted").and_then(Value::as_u64), Some(2));
        assert_eq!(out.list("versions").len(), 3);
        assert!(out.list("name").is_empty(), "not a list");
        assert!(out.list("missing").is_empty());
        assert!(Outcome::done().list("versions").is_empty());
        assert_eq!(Outcome::done().field("evicted"), None);
    }

    #[test]
    fn parse_expiry_takes_durations_and_dates() {
        assert_eq!(parse_expiry("90d", 1000), Ok(1000 + 90 * 86_400));
        assert_eq!(parse_expiry("12h", 0), Ok(12 * 3600));
        assert_eq!(parse_expiry("30m", 0), Ok(1800));
        assert_eq!(parse_expiry("2027-01-31", 0), Ok(1_801_353_600));
        assert_eq!(parse_expiry("2027-01-31T12:00:00Z", 0), Ok(1_801_396_800));
        for bad in ["", "d", "-5d", "0d", "5w", "2027-13-01", "soon"] {
            assert!(parse_expiry(bad, 0).is_err(), "{bad}");
        }
    }

    /// Every route answers the methods it does not take with "method not allowed" (a 405
    /// naming the path), and the ones it takes with anything else.
    #[test]
    fn every_route_refuses_the_methods_it_does_not_take() {
        let routes: &[(&[&str], &[&str])] = &[
            (&["user"], &["GET"]),
            (&["users"], &["GET", "POST"]),
            (&["users", "alice"], &["PATCH", "DELETE"]),
            (&["users", "alice", "password"], &["PUT"]),
            (&["users", "alice", "lookup-budget"], &["PUT", "DELETE"]),
            (&["tokens"], &["GET", "POST"]),
            (&["tokens", "abc"], &["DELETE"]),
            (&["orgs"], &["POST"]),
            (&["orgs", "acme", "members", "bob"], &["PUT", "DELETE"]),
            (&["owners"], &["GET"]),
            (&["owners", "acme"], &["PATCH"]),
            (&["owners", "acme", "shares", "example.com"], &["PUT"]),
            (&["owners", "acme", "claims", "example.com"], &["PUT"]),
            (&["owners", "acme", "retention"], &["PUT", "DELETE"]),
            (&["retention", "run"], &["POST"]),
            (&["private"], &["GET"]),
            (&["private", "*.corp.example"], &["PUT"]),
            (&["cache"], &["GET"]),
            (&["cache", "golang.org"], &["DELETE"]),
            (&["cache", "golang.org", "refresh"], &["POST", "DELETE"]),
            (&["cache", "golang.org", "v1.0.0"], &["POST", "DELETE"]),
        ];
        for (segs, allowed) in routes {
            let path = segs.join("/");
            for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
                let got = Op::from_request(method, segs, &[], b"");
                if allowed.contains(&method) {
                    assert!(
                        !matches!(got, Err(Error::NoRoute(_, true))),
                        "{method} {path}: {got:?}"
                    );
                } else {
                    match got {
                        Err(Error::NoRoute(m, true)) => {
                            assert_eq!(m, format!("method {method} not allowed on /api/v1/{path}"));
                        }
                        other => panic!("{method} {path}: {other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn from_request_tells_unknown_paths_from_wrong_methods() {
        assert!(matches!(
            Op::from_request("GET", &["nope"], &[], b""),
            Err(Error::NoRoute(_, false))
        ));
        assert!(matches!(
            Op::from_request("DELETE", &["users"], &[], b""),
            Err(Error::NoRoute(_, true))
        ));
        assert!(matches!(
            Op::from_request("POST", &["users"], &[], b"{not json"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            Op::from_request("POST", &["users"], &[], br#"{"name":"-bad"}"#),
            Err(Error::Invalid(_))
        ));
    }
}
