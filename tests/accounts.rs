//! Accounts, private owners, tokens, quotas and the failed-authentication limit (issue 3),
//! against the real binary over HTTP with curl.

use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::support::http::{self, admin, api, Auth, Response};
use crate::support::server::{TestServer, ADMIN_TOKEN};
use crate::support::ModZip;

const PASSWORD: &str = "correct horse battery";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn add_user(server: &TestServer, name: &str) {
    admin(
        server,
        "POST",
        "/api/v1/users",
        Some(json!({"name": name, "password": PASSWORD})),
        201,
    );
}

fn create_token(server: &TestServer, user: &str, scope: &str, expires_at: Option<i64>) -> String {
    let v = admin(
        server,
        "POST",
        "/api/v1/tokens",
        Some(
            json!({"user": user, "name": format!("{user}-{scope}"), "scope": scope, "expires_at": expires_at}),
        ),
        201,
    );
    v["token"].as_str().unwrap().to_owned()
}

/// A small valid module zip: go.mod and one Go file.
fn mz(path: &str, version: &str) -> ModZip {
    ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n\ngo 1.21\n").as_bytes())
        .file("m.go", b"package m\n")
}

fn goshelf(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::support::stress::goshelf(args, env, Duration::from_secs(60))
}

fn out_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Reader,
    Writer,
    NonMember,
    Admin,
    WrongPassword,
    ExpiredToken,
    RevokedToken,
}

const EVERYONE: [Who; 8] = [
    Who::Anonymous,
    Who::Reader,
    Who::Writer,
    Who::NonMember,
    Who::Admin,
    Who::WrongPassword,
    Who::ExpiredToken,
    Who::RevokedToken,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Info,
    Mod,
    Zip,
    Latest,
    Upload,
    Delete,
}

const OPS: [Op; 7] = [
    Op::List,
    Op::Info,
    Op::Mod,
    Op::Zip,
    Op::Latest,
    Op::Upload,
    Op::Delete,
];

/// The expected status: the access rules, written out case by case.
fn expected(who: Who, private: bool, op: Op) -> u16 {
    use Who::*;
    let bad_credentials = matches!(who, WrongPassword | ExpiredToken | RevokedToken);
    if bad_credentials {
        return 401;
    }
    match op {
        Op::Upload | Op::Delete => match who {
            Anonymous => 401,
            Reader | NonMember => 403,
            Writer | Admin => {
                if op == Op::Upload {
                    201
                } else {
                    204
                }
            }
            _ => unreachable!(),
        },
        _ => match who {
            NonMember | Anonymous if private => 404,
            _ => 200,
        },
    }
}

struct World {
    server: TestServer,
    reader_token: String,
    writer_token: String,
    expired_token: String,
    revoked_token: String,
}

impl World {
    fn auth(&self, who: Who) -> Auth<'_> {
        match who {
            Who::Anonymous => Auth::None,
            // The reader signs in with a password, the writer with a token in Basic auth (as a
            // .netrc does), the admin with a bearer token.
            Who::Reader => Auth::Basic("rita", PASSWORD),
            Who::Writer => Auth::Basic("wendy", &self.writer_token),
            Who::NonMember => Auth::Basic("nora", PASSWORD),
            Who::Admin => Auth::Bearer(ADMIN_TOKEN),
            Who::WrongPassword => Auth::Basic("rita", "not the password"),
            Who::ExpiredToken => Auth::Bearer(&self.expired_token),
            Who::RevokedToken => Auth::Token(&self.revoked_token),
        }
    }
}

/// Two organisations, `pubco` (public) and `privco` (private), each with member `rita`
/// (read) and `wendy` (write); `nora` is a user in neither.
fn world() -> World {
    let server = TestServer::start_with(&[], &[("GOSHELF_AUTH_FAILURES_PER_MINUTE", "0")]);
    for u in ["rita", "wendy", "nora"] {
        add_user(&server, u);
    }
    for (org, vis) in [("pubco", "public"), ("privco", "private")] {
        admin(
            &server,
            "POST",
            "/api/v1/orgs",
            Some(json!({"name": org, "visibility": vis})),
            201,
        );
        for (user, role) in [("rita", "read"), ("wendy", "write")] {
            admin(
                &server,
                "PUT",
                &format!("/api/v1/orgs/{org}/members/{user}"),
                Some(json!({ "role": role })),
                204,
            );
        }
        server.upload(org, &mz(&format!("example.com/{org}/m"), "v1.0.0"));
    }
    let reader_token = create_token(&server, "rita", "read", None);
    let writer_token = create_token(&server, "wendy", "write", None);
    let expired_token = create_token(&server, "wendy", "write", Some(now() + 2));
    let revoked_token = create_token(&server, "wendy", "write", None);
    // A token's public id is the first 8 bytes of its SHA-256 (hex).
    let revoked_id =
        goshelf::store::accounts::token_id(&goshelf::store::token_hash(&revoked_token));
    let list = admin(&server, "GET", "/api/v1/tokens?user=wendy", None, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == revoked_id.as_str()),
        "{list}"
    );
    admin(
        &server,
        "DELETE",
        &format!("/api/v1/tokens/{revoked_id}"),
        None,
        204,
    );
    std::thread::sleep(Duration::from_millis(2200));
    World {
        server,
        reader_token,
        writer_token,
        expired_token,
        revoked_token,
    }
}

fn request(world: &World, who: Who, owner: &str, op: Op, n: usize) -> Response {
    let server = &world.server;
    let base = server.base(owner);
    let module = format!("example.com/{owner}/m");
    let auth = world.auth(who);
    match op {
        Op::List => http::curl(&auth, &[&format!("{base}/{module}/@v/list")]),
        Op::Info => http::curl(&auth, &[&format!("{base}/{module}/@v/v1.0.0.info")]),
        Op::Mod => http::curl(&auth, &[&format!("{base}/{module}/@v/v1.0.0.mod")]),
        Op::Zip => http::curl(&auth, &[&format!("{base}/{module}/@v/v1.0.0.zip")]),
        Op::Latest => http::curl(&auth, &[&format!("{base}/{module}/@latest")]),
        Op::Upload => {
            let zip = mz(&module, &format!("v1.1.{n}"));
            let file = server.write_scratch("m.zip", &zip.bytes());
            http::put_file(&server.upload_url(owner), &auth, &file, &[])
        }
        Op::Delete => {
            // Each delete case gets its own version, uploaded by the admin beforehand.
            let version = format!("v0.1.{n}");
            server.upload(owner, &mz(&module, &version));
            let url = format!(
                "{}/api/v1/packages/{owner}/go/{}/{version}",
                server.url(),
                module.replace('/', "%2F")
            );
            http::curl(&auth, &["-X", "DELETE", &url])
        }
    }
}

#[test]
fn access_matrix_every_principal_namespace_and_operation_gets_its_status() {
    let world = world();
    let mut failures = Vec::new();
    let mut n = 0;
    for private in [false, true] {
        let owner = if private { "privco" } else { "pubco" };
        for who in EVERYONE {
            for op in OPS {
                n += 1;
                let resp = request(&world, who, owner, op, n);
                let want = expected(who, private, op);
                if resp.status != want {
                    failures.push(format!(
                        "{who:?} {op:?} {owner}: got {} want {want}: {}",
                        resp.status,
                        resp.text().trim()
                    ));
                }
                if resp.status >= 400
                    && (resp.media_type().as_deref() != Some("text/plain")
                        || resp.text().lines().count() != 1)
                {
                    failures.push(format!(
                        "{who:?} {op:?} {owner}: not one text/plain line: {resp:?}"
                    ));
                }
                if resp.status == 401 && resp.header("www-authenticate").is_none() {
                    failures.push(format!(
                        "{who:?} {op:?} {owner}: 401 without WWW-Authenticate"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The read token works for reading and not for writing.
    let reader = Auth::Basic("rita", &world.reader_token);
    let base = world.server.base("privco");
    assert_eq!(
        http::curl(&reader, &[&format!("{base}/example.com/privco/m/@v/list")]).status,
        200
    );
    let zip = mz("example.com/privco/m", "v9.0.0");
    let file = world.server.write_scratch("m.zip", &zip.bytes());
    assert_eq!(
        http::put_file(&world.server.upload_url("privco"), &reader, &file, &[]).status,
        403
    );
}

#[test]
fn private_namespace_404_is_word_for_word_the_404_of_a_missing_namespace() {
    let world = world();
    let s = &world.server;
    for tail in [
        "example.com/privco/m/@v/list",
        "example.com/privco/m/@v/v1.0.0.info",
        "example.com/privco/m/@v/v1.0.0.mod",
        "example.com/privco/m/@v/v1.0.0.zip",
        "example.com/privco/m/@latest",
        "sumdb/sum.golang.org/supported",
    ] {
        let private = http::get(&format!("{}/{tail}", s.base("privco")));
        let missing = http::get(&format!("{}/{tail}", s.base("nosuchco")));
        assert_eq!(private.status, 404, "{tail}: {private:?}");
        assert_eq!(private.body, missing.body, "{tail}");
        assert_eq!(private.media_type(), missing.media_type(), "{tail}");
        // A non-member sees the same.
        let nora = http::curl(
            &Auth::Basic("nora", PASSWORD),
            &[&format!("{}/{tail}", s.base("privco"))],
        );
        assert_eq!((nora.status, &nora.body), (404, &missing.body), "{tail}");
    }
    // Making it public shows it; private again hides it.
    for (visibility, status) in [("public", 200), ("private", 404)] {
        admin(
            s,
            "PATCH",
            "/api/v1/owners/privco",
            Some(json!({ "visibility": visibility })),
            204,
        );
        let list = format!("{}/example.com/privco/m/@v/list", s.base("privco"));
        // Twice: the second anonymous answer may come from the answer cache, which the
        // visibility change must have emptied.
        assert_eq!(http::get(&list).status, status, "{visibility}");
        assert_eq!(http::get(&list).status, status, "{visibility}");
    }
}

#[test]
fn tokens_and_passwords_are_stored_only_as_hashes_and_shown_once() {
    let mut server = TestServer::start();
    add_user(&server, "bob");
    let token = create_token(&server, "bob", "write", None);
    assert!(token.starts_with("gs_"), "{token}");
    // Listing never shows a secret.
    let list = api(
        &server,
        &Auth::Basic("bob", PASSWORD),
        "GET",
        "/api/v1/tokens",
        None,
    );
    assert_eq!(list.status, 200, "{list:?}");
    assert!(!list.text().contains(&token), "{}", list.text());
    assert!(list.text().contains("bob-write"), "{}", list.text());
    // The token works, then the server stops and the file is searched for the secrets.
    let who = api(&server, &Auth::Bearer(&token), "GET", "/api/v1/user", None);
    assert_eq!(who.status, 200, "{who:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&who.body).unwrap()["user"],
        "bob"
    );
    server.terminate();
    let bytes = std::fs::read(server.db_path()).unwrap();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(token.as_bytes()),
        "the token is in the database file"
    );
    assert!(!contains(token.trim_start_matches("gs_").as_bytes()));
    assert!(
        !contains(ADMIN_TOKEN.as_bytes()),
        "the admin token is in the database file"
    );
    assert!(
        !contains(PASSWORD.as_bytes()),
        "the password is in the database file"
    );
    assert!(
        contains(b"$argon2id$"),
        "no argon2id hash found: the check above proves nothing"
    );
    // The last use was recorded (flushed at shutdown).
    let out = goshelf(
        &[
            "token",
            "list",
            "--all",
            "--db",
            server.db_path().to_str().unwrap(),
        ],
        &[],
    );
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    let bob_line = text.lines().find(|l| l.contains("bob-write")).unwrap();
    assert!(
        bob_line.trim_end().ends_with('Z'),
        "no last-used time: {text}"
    );
}

#[test]
fn repeated_failed_authentication_gets_429_with_retry_after_and_spares_anonymous_reads() {
    let server = TestServer::start_with(&[], &[("GOSHELF_AUTH_FAILURES_PER_MINUTE", "3")]);
    add_user(&server, "bob");
    server.upload("bob", &mz("example.com/bob/m", "v1.0.0"));
    let list = format!("{}/example.com/bob/m/@v/list", server.base("bob"));
    for _ in 0..3 {
        let r = http::curl(&Auth::Basic("bob", "wrong password"), &[&list]);
        assert_eq!(r.status, 401, "{r:?}");
    }
    let r = http::curl(&Auth::Basic("bob", "wrong password"), &[&list]);
    assert_eq!(r.status, 429, "{r:?}");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Right credentials from the same address wait too; no credentials are not slowed.
    let r = http::curl(&Auth::Basic("bob", PASSWORD), &[&list]);
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(http::get(&list).status, 200);
    // The log names the failure, never the secret. (Request lines are buffered: wait for
    // the last one, so the absence below is checked against the whole log.)
    assert!(
        crate::support::poll_until(Duration::from_secs(5), || server
            .stderr_log()
            .contains("/example.com/bob/m/@v/list 200")),
        "{}",
        server.stderr_log()
    );
    assert!(!server.stderr_log().contains("wrong password"));
    assert!(!server.stderr_log().contains(PASSWORD));
}

#[test]
fn password_change_takes_effect_at_once_despite_the_password_cache() {
    let server = TestServer::start();
    add_user(&server, "bob");
    let me = "/api/v1/user";
    assert_eq!(
        api(&server, &Auth::Basic("bob", PASSWORD), "GET", me, None).status,
        200
    );
    let r = api(
        &server,
        &Auth::Basic("bob", PASSWORD),
        "PUT",
        "/api/v1/users/bob/password",
        Some(json!({"password": "a new long password"})),
    );
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        api(&server, &Auth::Basic("bob", PASSWORD), "GET", me, None).status,
        401
    );
    assert_eq!(
        api(
            &server,
            &Auth::Basic("bob", "a new long password"),
            "GET",
            me,
            None
        )
        .status,
        200
    );
    // Too short a password is refused with the reason.
    let r = api(
        &server,
        &Auth::Basic("bob", "a new long password"),
        "PUT",
        "/api/v1/users/bob/password",
        Some(json!({"password": "short"})),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("at least 8"), "{r:?}");
}

#[test]
fn quotas_refuse_uploads_with_the_reason_and_store_nothing() {
    let server = TestServer::start();
    admin(
        &server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": "acme"})),
        201,
    );
    server.upload("acme", &mz("example.com/acme/a", "v1.0.0"));
    admin(
        &server,
        "PATCH",
        "/api/v1/owners/acme",
        Some(json!({"quota_versions": 1})),
        204,
    );
    let r = server.upload_bytes("acme", &mz("example.com/acme/a", "v1.0.1").bytes());
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.text().contains("quota exceeded") && r.text().contains("at most 1"),
        "{r:?}"
    );
    admin(
        &server,
        "PATCH",
        "/api/v1/owners/acme",
        Some(json!({"quota_versions": -1, "quota_bytes": 600})),
        204,
    );
    let big = mz("example.com/acme/a", "v1.0.2")
        .file("big.txt", &crate::support::incompressible("quota", 4096));
    let r = server.upload_bytes("acme", &big.bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.text().contains("quota exceeded"), "{r:?}");
    let list = http::get(&format!(
        "{}/example.com/acme/a/@v/list",
        server.base("acme")
    ));
    assert_eq!(list.text(), "v1.0.0\n");
    let owners = admin(&server, "GET", "/api/v1/owners", None, 200);
    let acme = owners
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "acme")
        .unwrap();
    assert_eq!(acme["versions"], 1);
    assert_eq!(acme["quota_bytes"], 600);
    // Only admins set quotas.
    add_user(&server, "bob");
    let r = api(
        &server,
        &Auth::Basic("bob", PASSWORD),
        "PATCH",
        "/api/v1/owners/bob",
        Some(json!({"quota_bytes": -1})),
    );
    assert_eq!(r.status, 403, "{r:?}");
    // A user may make their own namespace private.
    let r = api(
        &server,
        &Auth::Basic("bob", PASSWORD),
        "PATCH",
        "/api/v1/owners/bob",
        Some(json!({"visibility": "private"})),
    );
    assert_eq!(r.status, 204, "{r:?}");
}

#[test]
fn deleted_version_comes_back_only_with_the_same_bytes_even_after_an_admin_purges_it() {
    let server = TestServer::start();
    add_user(&server, "bob");
    let bob_token = create_token(&server, "bob", "write", None);
    let bob = Auth::Bearer(&bob_token);
    let first = mz("example.com/bob/m", "v1.0.0");
    let file = server.write_scratch("a.zip", &first.bytes());
    assert_eq!(
        http::put_file(&server.upload_url("bob"), &bob, &file, &[]).status,
        201
    );
    let url = format!(
        "{}/api/v1/packages/bob/go/example.com%2Fbob%2Fm/v1.0.0",
        server.url()
    );
    assert_eq!(http::curl(&bob, &["-X", "DELETE", &url]).status, 204);
    let other = mz("example.com/bob/m", "v1.0.0").file("extra.go", b"package m\n");
    let other_file = server.write_scratch("b.zip", &other.bytes());
    let r = http::put_file(&server.upload_url("bob"), &bob, &other_file, &[]);
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.text().contains("pinned"), "{r:?}");
    // A writer may not purge; an admin may.
    let purge = format!("{url}?purge=true");
    assert_eq!(http::curl(&bob, &["-X", "DELETE", &purge]).status, 403);
    let r = http::curl(&Auth::Bearer(ADMIN_TOKEN), &["-X", "DELETE", &purge]);
    assert_eq!(r.status, 204, "{r:?}");
    // The purge removes the tombstone, but the version is in the checksum database, whose
    // records are forever (issue 26): other content is still refused, the same comes back.
    let r = http::put_file(&server.upload_url("bob"), &bob, &other_file, &[]);
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.text().contains("checksum database"), "{r:?}");
    let r = http::put_file(&server.upload_url("bob"), &bob, &file, &[]);
    assert_eq!(r.status, 201, "{r:?}");
}

#[test]
fn cli_manages_accounts_offline_and_online_and_names_a_locked_database() {
    let mut server = TestServer::start();
    let db = server.db_path();
    let db = db.to_str().unwrap();
    let url = server.url().to_owned();
    // Online, with the admin token from the environment.
    let online = [
        ("GOSHELF_SERVER", url.as_str()),
        ("GOSHELF_TOKEN", ADMIN_TOKEN),
    ];
    let pw = [("GOSHELF_PASSWORD", PASSWORD)];
    let env: Vec<(&str, &str)> = online.iter().chain(pw.iter()).copied().collect();
    let out = goshelf(&["user", "add", "carol"], &env);
    assert!(out.status.success(), "{}", out_text(&out));
    let out = goshelf(&["org", "add", "team", "--private"], &online);
    assert!(out.status.success(), "{}", out_text(&out));
    let out = goshelf(
        &["org", "member", "team", "carol", "--role", "write"],
        &online,
    );
    assert!(out.status.success(), "{}", out_text(&out));
    let out = goshelf(
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--user",
            "carol",
            "--scope",
            "write",
            "--expires",
            "30d",
        ],
        &online,
    );
    assert!(out.status.success(), "{}", out_text(&out));
    let carol_token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(carol_token.starts_with("gs_"), "{}", out_text(&out));
    // carol publishes to the private org and reads it; anonymous does not see it.
    let zip = mz("example.com/team/x", "v0.1.0");
    let file = server.write_scratch("x.zip", &zip.bytes());
    let r = http::put_file(
        &server.upload_url("team"),
        &Auth::Basic("carol", &carol_token),
        &file,
        &[],
    );
    assert_eq!(r.status, 201, "{r:?}");
    let list = format!("{}/example.com/team/x/@v/list", server.base("team"));
    assert_eq!(http::get(&list).status, 404);
    assert_eq!(
        http::curl(&Auth::Basic("carol", PASSWORD), &[&list]).status,
        200
    );
    let out = goshelf(&["owner", "list"], &online);
    let text = out_text(&out);
    assert!(out.status.success(), "{text}");
    let team = text
        .lines()
        .find(|l| l.starts_with("team "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        team.contains("private") && team.contains("carol:write"),
        "{text}"
    );
    // A non-admin token may not manage users.
    let carol_env = [
        ("GOSHELF_SERVER", url.as_str()),
        ("GOSHELF_TOKEN", carol_token.as_str()),
    ];
    let out = goshelf(&["user", "list"], &carol_env);
    assert!(!out.status.success());
    assert!(out_text(&out).contains("403"), "{}", out_text(&out));
    // Offline while the server runs: a clear message.
    let out = goshelf(&["user", "list", "--db", db], &[]);
    assert!(!out.status.success());
    assert!(
        out_text(&out).contains("already open in another process"),
        "{}",
        out_text(&out)
    );
    // Offline once stopped: add a user with a password from stdin, revoke carol's token.
    server.terminate();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_goshelf"))
        .args(["user", "add", "dave", "--password-stdin", "--db", db])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"dave's long password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out_text(&out));
    let out = goshelf(&["token", "list", "--all", "--db", db], &[]);
    let text = out_text(&out);
    let id = text
        .lines()
        .find(|l| l.contains(" carol ") && l.contains(" ci "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned();
    let out = goshelf(&["token", "revoke", &id, "--db", db], &[]);
    assert!(out.status.success(), "{}", out_text(&out));
    server.restart();
    let me = "/api/v1/user";
    assert_eq!(
        api(&server, &Auth::Bearer(&carol_token), "GET", me, None).status,
        401
    );
    assert_eq!(
        api(
            &server,
            &Auth::Basic("dave", "dave's long password"),
            "GET",
            me,
            None
        )
        .status,
        200
    );
}
