//! A private module reaches the real go command only over HTTPS with credentials (spec.md
//! §1.9): the server runs with its self-signed CA, the client trusts it with `SSL_CERT_FILE`,
//! and sends a read token from `.netrc` (go 1.19 and 1.27) or from a `GOAUTH` command
//! (go 1.27).

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::http::{self, Auth};
use crate::support::server::{parse_upload, TestServer, ADMIN_TOKEN};
use crate::support::{describe_output, Go, GoEnv, ModZip};

const ORG: &str = "secret";

pub(crate) struct Private {
    pub(crate) server: TestServer,
    pub(crate) ca: PathBuf,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) h1: String,
    pub(crate) go_mod_h1: String,
}

pub(crate) fn api(
    p: &TestServer,
    ca: &Path,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let url = format!("{}{path}", p.tls_url());
    let body = body.to_string();
    let r = http::curl(
        &Auth::Bearer(ADMIN_TOKEN),
        &[
            "--cacert",
            ca.to_str().unwrap(),
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
            &url,
        ],
    );
    assert!((200..300).contains(&r.status), "{method} {path}: {r:?}");
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

/// A server on HTTPS only, a private organisation holding example.com/tool, and a read token
/// of its member `dev`.
fn private() -> Private {
    private_with(&[])
}

/// `private` with more server arguments.
pub(crate) fn private_with(args: &[&str]) -> Private {
    let mut all = vec!["--tls-self-signed", "localhost,127.0.0.1"];
    all.extend_from_slice(args);
    let server = TestServer::start_tls(false, &all, &[]);
    let ca_pem = http::curl(
        &Auth::None,
        &["-k", &format!("{}/ca.pem", server.tls_url())],
    );
    assert_eq!(ca_pem.status, 200, "{ca_pem:?}");
    let ca = server.dir().join("ca.pem");
    std::fs::write(&ca, &ca_pem.body).unwrap();
    api(
        &server,
        &ca,
        "POST",
        "/api/v1/orgs",
        json!({"name": ORG, "visibility": "private"}),
    );
    api(
        &server,
        &ca,
        "POST",
        "/api/v1/users",
        json!({"name": "dev", "password": "dev password 123"}),
    );
    api(
        &server,
        &ca,
        "PUT",
        &format!("/api/v1/orgs/{ORG}/members/dev"),
        json!({"role": "read"}),
    );
    let token = api(
        &server,
        &ca,
        "POST",
        "/api/v1/tokens",
        json!({"user": "dev", "name": "go", "scope": "read"}),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("{}/api/packages/{ORG}/go", server.tls_url());
    let zip = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0");
    let file = server.write_scratch("tool.zip", &zip.bytes());
    let up = parse_upload(&http::put_file(
        &format!("{base}/upload"),
        &Auth::Bearer(ADMIN_TOKEN),
        &file,
        &["--cacert", ca.to_str().unwrap()],
    ));
    Private {
        server,
        ca,
        base,
        token,
        h1: up.h1,
        go_mod_h1: up.go_mod_h1,
    }
}

pub(crate) fn go_env(p: &Private, go: Go) -> GoEnv {
    let mut env = GoEnv::new(go, &p.base);
    env.set_env("SSL_CERT_FILE", p.ca.to_str().unwrap());
    env.set_env("SSL_CERT_DIR", "/nonexistent");
    env
}

/// Both `machine host` (go 1.19-1.23 match the host name without the port) and
/// `machine host:port` (go 1.24+ with an explicit port match only that, golang/go#81253).
pub(crate) fn write_netrc(p: &Private, dir: &Path) -> PathBuf {
    let addr = p.server.tls_addr();
    let host = addr.rsplit_once(':').unwrap().0;
    let netrc = dir.join("netrc");
    std::fs::write(
        &netrc,
        format!(
            "machine {host} login dev password {t}\nmachine {addr} login dev password {t}\n",
            t = p.token
        ),
    )
    .unwrap();
    netrc
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn private_module_installs_with_netrc_and_fails_with_the_404_reason_without(go: Go) {
    let p = private();
    // Without credentials: the go command shows the server's 404 reason.
    let env = go_env(&p, go);
    let dir = env.empty_dir("anon");
    let out = env.run_expect_fail(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let text = output_text(&out);
    assert!(text.contains("unknown module example.com/tool"), "{text}");

    // With .netrc: download (the sums are the server's) and install.
    let mut env = go_env(&p, go);
    let netrc = write_netrc(&p, &env.empty_dir("netrc"));
    env.set_env("NETRC", netrc.to_str().unwrap());
    let dir = env.empty_dir("download");
    let out = env.stdout(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["Sum"].as_str(), Some(p.h1.as_str()), "{json:#}");
    assert_eq!(
        json["GoModSum"].as_str(),
        Some(p.go_mod_h1.as_str()),
        "{json:#}"
    );
    env.run(&["install", "example.com/tool/cmd/hello@v1.0.0"], &dir);
    let hello = env.gobin().join("hello");
    let out = std::process::Command::new(&hello).output().unwrap();
    assert!(out.status.success(), "{}", describe_output("hello", &out));
    assert!(!out.stdout.is_empty(), "{}", describe_output("hello", &out));

    // The server never writes the secret to its log. Request lines are buffered: wait for
    // the zip's line first, so the whole log is checked.
    assert!(
        crate::support::poll_until(std::time::Duration::from_secs(5), || p
            .server
            .stderr_log()
            .contains("/example.com/tool/@v/v1.0.0.zip 200")),
        "{}",
        p.server.stderr_log()
    );
    assert!(!p.server.stderr_log().contains(&p.token));
}

mod private_module_over_https_with_netrc {
    #[test]
    fn go1_27() {
        super::private_module_installs_with_netrc_and_fails_with_the_404_reason_without(
            crate::support::Go::V1_27,
        );
    }
    #[test]
    fn go1_19() {
        super::private_module_installs_with_netrc_and_fails_with_the_404_reason_without(
            crate::support::Go::V1_19,
        );
    }
}

/// Go 1.24+: a `GOAUTH` command prints the URL prefix, a blank line, an Authorization header
/// and a blank line (spec.md §1.9).
#[test]
fn private_module_downloads_with_a_goauth_command_go1_27() {
    let p = private();
    let mut env = go_env(&p, Go::V1_27);
    let dir = env.empty_dir("goauth");
    let script = dir.join("auth.sh");
    let basic = base64_basic("dev", &p.token);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf 'https://{}\\n\\nAuthorization: Basic {basic}\\n\\n'\n",
            p.server.tls_addr()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    env.set_env("GOAUTH", script.to_str().unwrap());
    env.set_env("NETRC", "/nonexistent");
    let out = env.stdout(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["Sum"].as_str(), Some(p.h1.as_str()), "{json:#}");

    // The same command with a wrong token: the go command reports 401, not "not found".
    let mut env = go_env(&p, Go::V1_27);
    let dir = env.empty_dir("goauth-bad");
    let bad = dir.join("bad.sh");
    std::fs::write(
        &bad,
        format!(
            "#!/bin/sh\nprintf 'https://{}\\n\\nAuthorization: Basic {}\\n\\n'\n",
            p.server.tls_addr(),
            base64_basic("dev", "gs_wrong")
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&bad).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&bad, perms).unwrap();
    env.set_env("GOAUTH", bad.to_str().unwrap());
    let out = env.run_expect_fail(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let text = output_text(&out);
    assert!(text.contains("401"), "{text}");
}

fn base64_basic(user: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
}
