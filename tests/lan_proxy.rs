//! The LAN's one GOPROXY URL (issue 27, its first part): `/go` (also `/api/packages/go`)
//! serves the modules of the organisations in `lan_namespaces` (every organisation, by name,
//! when unset), never a personal namespace's, each viewer only what it may read; the
//! checksum database answers under it as under every base. The real go 1.27 and 1.19 build
//! through it with `GOSUMDB=<shelf>` and nothing switched off.

use serde_json::json;

use crate::support::for_each_go;
use crate::support::http::{self, Auth};
use crate::support::server::ADMIN_TOKEN;
use crate::support::{Go, GoEnv, ModZip, TestServer};

fn vkey(server: &TestServer) -> String {
    http::get(&format!("{}/sumdb-key", server.url()))
        .text()
        .trim()
        .to_owned()
}

fn org(server: &TestServer, name: &str, visibility: &str) {
    http::admin(
        server,
        "POST",
        "/api/v1/orgs",
        Some(json!({"name": name, "visibility": visibility})),
        201,
    );
}

fn small(path: &str, version: &str, marker: &str) -> ModZip {
    ModZip::new(path, version)
        .file("go.mod", format!("module {path}\n").as_bytes())
        .file("m.go", format!("package m // {marker}\n").as_bytes())
}

/// A shelf with organisations acme (public), beta (public), corp (private), and a personal
/// namespace (bob's) holding a famous path.
fn shelf(args: &[&str]) -> TestServer {
    let server = TestServer::start_with(args, &[]);
    org(&server, "acme", "public");
    org(&server, "beta", "public");
    org(&server, "corp", "private");
    server.upload(
        "acme",
        &ModZip::from_fixture("tool", "example.com/tool", "v1.0.0"),
    );
    server.upload(
        "beta",
        &ModZip::from_fixture("upper", "example.com/Upper/Lib", "v1.0.0"),
    );
    // One path in two organisations (shared by an admin), with other versions in each.
    server.upload("acme", &small("example.com/shared", "v1.0.0", "acme"));
    server.share("beta", "example.com/shared");
    server.upload("beta", &small("example.com/shared", "v1.1.0", "beta"));
    server.upload("corp", &small("corp.example.com/secret", "v0.1.0", "corp"));
    server.add_user("bob", "bob password 123");
    server.upload(
        "bob",
        &small("github.com/gin-gonic/gin", "v1.99.0", "squatter"),
    );
    server
}

fn get(server: &TestServer, auth: &Auth, path: &str) -> http::Response {
    http::curl(auth, &[&format!("{}{path}", server.url())])
}

#[test]
fn the_lan_url_serves_organisations_only_each_viewer_what_it_may_read() {
    let server = shelf(&[]);
    for base in ["/go", "/api/packages/go"] {
        let list = get(
            &server,
            &Auth::None,
            &format!("{base}/example.com/tool/@v/list"),
        );
        assert_eq!(
            (list.status, list.text()),
            (200, "v1.0.0\n".into()),
            "{base}"
        );
        let info = get(
            &server,
            &Auth::None,
            &format!("{base}/example.com/tool/@v/v1.0.0.info"),
        );
        assert_eq!(info.status, 200);
        assert_eq!(
            info.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        // `!` escapes as on every base.
        let upper = get(
            &server,
            &Auth::None,
            &format!("{base}/example.com/!upper/!lib/@latest"),
        );
        assert_eq!(upper.status, 200, "{upper:?}");
    }
    // Several organisations host a path: the first by name answers for it (acme).
    let shared = get(&server, &Auth::None, "/go/example.com/shared/@v/list");
    assert_eq!(shared.text(), "v1.0.0\n");
    // A personal namespace is never served, and looks like nothing at all.
    let nothing = get(&server, &Auth::None, "/go/example.com/none/@v/list");
    assert_eq!(nothing.status, 404);
    let gin = get(&server, &Auth::None, "/go/github.com/gin-gonic/gin/@v/list");
    assert_eq!(gin.status, 404);
    assert_eq!(
        gin.text().replace("github.com/gin-gonic/gin", "X"),
        nothing.text().replace("example.com/none", "X")
    );
    // A private organisation: nothing to anonymous clients (the same 404, not kept), its
    // modules to a member, privately.
    let hidden = get(&server, &Auth::None, "/go/corp.example.com/secret/@v/list");
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.header("cache-control"), Some("no-store"));
    assert_eq!(
        hidden.text().replace("corp.example.com/secret", "X"),
        nothing.text().replace("example.com/none", "X")
    );
    let admin = Auth::Bearer(ADMIN_TOKEN);
    let seen = get(&server, &admin, "/go/corp.example.com/secret/@v/list");
    assert_eq!((seen.status, seen.text()), (200, "v0.1.0\n".into()));
    let info = get(
        &server,
        &admin,
        "/go/corp.example.com/secret/@v/v0.1.0.info",
    );
    assert_eq!(
        info.header("cache-control"),
        Some("private, max-age=31536000, immutable")
    );
    // A signed-in viewer's answers are never for shared caches, even from a public
    // organisation (another viewer may be answered from a private one listed first).
    let info = get(&server, &admin, "/go/example.com/tool/@v/v1.0.0.info");
    assert_eq!(
        info.header("cache-control"),
        Some("private, max-age=31536000, immutable")
    );
    // The checksum database answers under it; the LAN base takes no uploads.
    let name = vkey(&server).split('+').next().unwrap().to_owned();
    let supported = get(&server, &Auth::None, &format!("/go/sumdb/{name}/supported"));
    assert_eq!(supported.status, 200);
    let zip = small("example.com/new", "v1.0.0", "x");
    let file = server.write_scratch("new.zip", &zip.bytes());
    for url in ["/go/upload", "/api/packages/go/upload"] {
        let r = http::put_file(&format!("{}{url}", server.url()), &admin, &file, &[]);
        assert!(matches!(r.status, 404 | 405), "{url}: {r:?}");
    }
    let stored = get(&server, &admin, "/go/example.com/new/@v/list");
    assert_eq!(stored.status, 404, "{stored:?}");
}

/// A deleted user's namespace stays, for admins to manage, but still counts as personal:
/// its famous path is not served at the LAN's URL (an earlier build made it an organisation
/// like any other, which the default `lan_namespaces` then served to the whole LAN), unless
/// `lan_namespaces` names it.
#[test]
fn a_deleted_users_namespace_is_still_not_the_lans() {
    let mut server = shelf(&[]);
    http::admin(&server, "DELETE", "/api/v1/users/bob", None, 204);
    let owners = http::admin(&server, "GET", "/api/v1/owners", None, 200);
    let bob = owners
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(
        (bob["kind"].as_str(), bob["former_user"].as_bool()),
        (Some("org"), Some(true))
    );
    let nothing = get(&server, &Auth::None, "/go/example.com/none/@v/list");
    for auth in [Auth::None, Auth::Bearer(ADMIN_TOKEN)] {
        let gin = get(&server, &auth, "/go/github.com/gin-gonic/gin/@v/list");
        assert_eq!(gin.status, 404, "{gin:?}");
        assert_eq!(
            gin.text().replace("github.com/gin-gonic/gin", "X"),
            nothing.text().replace("example.com/none", "X")
        );
    }
    // Its own base still serves it, and an admin may put it on the LAN by name.
    let own = get(
        &server,
        &Auth::None,
        "/api/packages/bob/go/github.com/gin-gonic/gin/@v/list",
    );
    assert_eq!((own.status, own.text()), (200, "v1.99.0\n".into()));
    server.set_args(&["--lan-namespaces", "acme,bob"]);
    server.restart();
    let gin = get(&server, &Auth::None, "/go/github.com/gin-gonic/gin/@v/list");
    assert_eq!((gin.status, gin.text()), (200, "v1.99.0\n".into()));
}

#[test]
fn lan_namespaces_chooses_and_orders_the_organisations() {
    let server = shelf(&["--lan-namespaces", "beta,acme"]);
    let shared = get(&server, &Auth::None, "/go/example.com/shared/@v/list");
    assert_eq!(shared.text(), "v1.1.0\n");
    let only = shelf(&["--lan-namespaces", "beta"]);
    assert_eq!(
        get(&only, &Auth::None, "/go/example.com/tool/@v/list").status,
        404
    );
    assert_eq!(
        get(&only, &Auth::None, "/go/example.com/!upper/!lib/@v/list").status,
        200
    );
}

fn go_builds_through_the_lan_url_verifying_everything(go: Go) {
    go.bin();
    let server = shelf(&[]);
    let key = vkey(&server);
    for base in ["/go", "/api/packages/go"] {
        let mut env = GoEnv::new(go, &format!("{}{base}", server.url()));
        env.set_env("GONOSUMDB", "");
        env.set_env("GOPRIVATE", "");
        env.set_env("GOSUMDB", &key);
        let main = env.main_module("consumer-upper");
        env.run(&["get", "example.com/Upper/Lib@v1.0.0"], &main);
        env.run(&["build", "-o", "consumer", "."], &main);
        env.install_and_run_hello();
        // The personal namespace's squatter is not there for the go command either.
        let failed = env.run_expect_fail(
            &["mod", "download", "github.com/gin-gonic/gin@v1.99.0"],
            &env.empty_dir("gin"),
        );
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert!(stderr.contains("404"), "{base}: {stderr}");
    }
}

for_each_go!(go_builds_through_the_lan_url_verifying_everything);
