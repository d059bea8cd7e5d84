//! HTTPS serving (issue 3): the go command sends credentials only over HTTPS, so private
//! modules need it. These tests run the real binary with `--tls-self-signed` and with
//! `--tls-cert`/`--tls-key`, and use the real curl, openssl and go (1.27 and 1.19) as clients:
//! a client that trusts the exported CA gets the uploaded bytes, one that trusts another CA is
//! refused, the CA survives restarts, and a stalled handshake does not hold up anyone else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::http::{self, Auth};
use crate::support::server::{parse_upload, ADMIN_TOKEN};
use crate::support::stress::goshelf;
use crate::support::{describe_output, eqnice, run_with_timeout, Go, GoEnv, ModZip, TestServer};

const OWNER: &str = "acme";
const NAMES: &str = "localhost,127.0.0.1";

/// Runs `curl -sS --noproxy '*' -w '%{http_code}' <args>`; unlike `http::curl` it returns
/// failures too (a refused certificate is what some tests expect).
fn curl_raw(args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--noproxy",
        "*",
        "--max-time",
        "30",
        "-w",
        "%{http_code}",
    ])
    .args(args);
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.code().is_some(),
        "curl did not run (is it installed? `apt-get install curl`): {out:?}"
    );
    out
}

/// `goshelf ca export --server <https url> --insecure`, written to the server's dir.
fn export_ca_online(server: &TestServer) -> PathBuf {
    let out = goshelf(
        &["ca", "export", "--server", server.tls_url(), "--insecure"],
        &[],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        describe_output("goshelf ca export --server", &out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CA SHA-256 fingerprint: "), "{stderr}");
    let path = server.dir().join("ca.pem");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn start_self_signed(plain: bool, extra: &[&str]) -> TestServer {
    let mut args = vec!["--tls-self-signed", NAMES];
    args.extend_from_slice(extra);
    TestServer::start_tls(plain, &args, &[])
}

fn get_tls(url: &str, ca: &Path) -> http::Response {
    http::curl(&Auth::None, &["--cacert", ca.to_str().unwrap(), url])
}

#[test]
fn https_upload_then_info_and_zip_with_the_exported_ca() {
    let server = start_self_signed(true, &[]);
    let ca = export_ca_online(&server);
    let zip = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0");
    let file = server.write_scratch("tool.zip", &zip.bytes());
    let base = format!("{}/api/packages/{OWNER}/go", server.tls_url());
    let resp = http::put_file(
        &format!("{base}/upload"),
        &Auth::Bearer(ADMIN_TOKEN),
        &file,
        &["--cacert", ca.to_str().unwrap()],
    );
    let up = parse_upload(&resp);

    let info = get_tls(&format!("{base}/example.com/tool/@v/v1.0.0.info"), &ca);
    eqnice!(200, info.status, "{info:?}");
    let json: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    eqnice!("v1.0.0", json["Version"].as_str().unwrap());
    let served = get_tls(&format!("{base}/example.com/tool/@v/v1.0.0.zip"), &ca);
    eqnice!(200, served.status);
    assert!(served.body == zip.bytes(), "zip over HTTPS differs");
    eqnice!(up.size, served.body.len() as u64);
    // Plain HTTP keeps serving the same registry beside HTTPS.
    let plain = http::get(&format!(
        "{}/api/packages/{OWNER}/go/example.com/tool/@v/list",
        server.url()
    ));
    eqnice!((200, "v1.0.0\n".to_owned()), (plain.status, plain.text()));
}

#[test]
fn https_client_trusting_another_ca_or_none_is_refused() {
    let server = start_self_signed(false, &[]);
    let other = goshelf::tls::create(&["localhost".into()], goshelf::store::now_unix()).unwrap();
    let other_ca = server.write_scratch("other-ca.pem", other.ca_cert_pem.as_bytes());
    let url = format!("{}/healthz", server.tls_url());
    for args in [
        vec!["--cacert", other_ca.to_str().unwrap(), url.as_str()],
        vec![
            "--capath",
            "/nonexistent",
            "--cacert",
            "/dev/null",
            url.as_str(),
        ],
    ] {
        let out = curl_raw(&args);
        // 60: peer certificate cannot be authenticated with known CA certificates; 77: bad CA
        // file. Both mean no request was sent.
        assert!(
            matches!(out.status.code(), Some(60 | 77 | 35)),
            "curl {args:?} was not refused: {}",
            describe_output("curl", &out)
        );
        eqnice!("000", String::from_utf8_lossy(&out.stdout).trim());
    }
    // And the right CA is accepted, so the refusals are about trust, not a broken server.
    let ca = export_ca_online(&server);
    let ok = get_tls(&url, &ca);
    eqnice!((200, "ok\n".to_owned()), (ok.status, ok.text()));
}

#[test]
fn restart_reuses_the_ca_and_reissues_the_server_certificate_when_names_change() {
    let mut server = start_self_signed(false, &[]);
    let ca_first = std::fs::read(export_ca_online(&server)).unwrap();
    let ca_path = server.write_scratch("ca-first.pem", &ca_first);
    let other_name = |server: &TestServer| {
        let port = server.tls_addr().rsplit(':').next().unwrap().to_owned();
        curl_raw(&[
            "-o",
            "/dev/null",
            "--resolve",
            &format!("goshelf.test:{port}:127.0.0.1"),
            "--cacert",
            ca_path.to_str().unwrap(),
            &format!("https://goshelf.test:{port}/healthz"),
        ])
    };
    // goshelf.test is not among the names yet: curl refuses the certificate (exit 60).
    let out = other_name(&server);
    eqnice!(
        Some(60),
        out.status.code(),
        "{}",
        describe_output("curl", &out)
    );

    server.restart();
    let ca_again = std::fs::read(export_ca_online(&server)).unwrap();
    assert!(ca_first == ca_again, "the CA changed on a plain restart");
    assert!(
        !server
            .stderr_log()
            .contains("issued a new server certificate"),
        "{}",
        server.stderr_log()
    );

    server.set_args(&["--tls-self-signed", "localhost,127.0.0.1,goshelf.test"]);
    server.restart();
    let ca_third = std::fs::read(export_ca_online(&server)).unwrap();
    assert!(
        ca_first == ca_third,
        "the CA changed when the names changed"
    );
    assert!(
        server
            .stderr_log()
            .contains("issued a new server certificate from the local CA: host names changed"),
        "{}",
        server.stderr_log()
    );
    let out = other_name(&server);
    assert!(out.status.success(), "{}", describe_output("curl", &out));
    eqnice!("200", String::from_utf8_lossy(&out.stdout).trim());

    // Offline export from the stopped server's file gives the same bytes as /ca.pem.
    let status = server.terminate();
    assert!(status.success());
    let db = server.db_path();
    let out = goshelf(
        &["ca", "export", "--db", db.to_str().unwrap()],
        &[],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        describe_output("ca export --db", &out)
    );
    assert!(
        out.stdout == ca_first,
        "ca export --db differs from /ca.pem"
    );
}

#[test]
fn ca_pem_and_ca_export_agree_and_are_404_without_a_local_ca() {
    let server = start_self_signed(true, &[]);
    let online = std::fs::read(export_ca_online(&server)).unwrap();
    // /ca.pem over plain HTTP is the same file, with the PEM media type.
    let plain = http::get(&format!("{}/ca.pem", server.url()));
    eqnice!(200, plain.status);
    eqnice!(
        Some("application/x-pem-file".to_owned()),
        plain.media_type()
    );
    assert!(plain.body == online, "/ca.pem differs from ca export");
    assert!(plain.text().starts_with("-----BEGIN CERTIFICATE-----"));
    // The fingerprint the server logged at startup is the exported certificate's.
    let fp = goshelf::tls::fingerprint(&online).unwrap();
    assert!(
        server.stderr_log().contains(&fp),
        "startup log lacks {fp}: {}",
        server.stderr_log()
    );
    assert!(server.stderr_log().contains("update-ca-certificates"));

    let none = TestServer::start();
    let resp = http::get(&format!("{}/ca.pem", none.url()));
    eqnice!(404, resp.status, "{resp:?}");
    eqnice!(Some("text/plain".to_owned()), resp.media_type());
    let out = goshelf(
        &["ca", "export", "--server", none.url()],
        &[],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        describe_output("ca export", &out)
    );
}

#[test]
fn redirect_http_answers_308_to_the_https_url() {
    let server = start_self_signed(true, &["--redirect-http"]);
    let tls_port = server.tls_addr().rsplit(':').next().unwrap().to_owned();
    let path = "/api/packages/acme/go/example.com/m/@v/list?x=1";
    let raw = http::raw_exchange(
        server.addr(),
        &format!("GET {path} HTTP/1.1\r\nHost: localhost:1234\r\nConnection: close\r\n\r\n"),
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 308"), "{text}");
    let location = format!("location: https://localhost:{tls_port}{path}\r\n");
    assert!(text.to_ascii_lowercase().contains(&location), "{text}");
    // Nothing is served over plain HTTP any more, not even an upload.
    let put = http::put_file(
        &format!("{}/upload", server.base(OWNER)),
        &Auth::Bearer(ADMIN_TOKEN),
        &server.write_scratch("x.zip", b"x"),
        &[],
    );
    eqnice!(308, put.status, "{put:?}");
    // A client that follows the redirect and trusts the CA lands on HTTPS.
    let ca = export_ca_online(&server);
    let followed = http::curl(
        &Auth::None,
        &[
            "-L",
            "--cacert",
            ca.to_str().unwrap(),
            &format!("{}/healthz", server.url()),
        ],
    );
    eqnice!((200, "ok\n".to_owned()), (followed.status, followed.text()));
    // No Host header: 400 with a reason, not a redirect to nowhere.
    let raw = http::raw_exchange(server.addr(), "GET / HTTP/1.0\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.0 400"), "{text}");
}

fn openssl(args: &[&str], dir: &Path) {
    let out = run_with_timeout(
        Command::new("openssl").args(args).current_dir(dir),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openssl is needed (`apt-get install openssl`)\n{}",
        describe_output(&format!("openssl {}", args.join(" ")), &out)
    );
}

/// `--tls-cert`/`--tls-key` with files made by openssl: an RSA key in PKCS#1 form and an EC
/// key in SEC1 form (PKCS#8 is what the self-signed mode stores, so all three are covered).
#[test]
fn tls_cert_and_key_files_rsa_and_ec_are_served_and_a_mismatch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(&["genrsa", "-traditional", "-out", "rsa.key", "2048"], d);
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
        d,
    );
    assert!(std::fs::read_to_string(d.join("rsa.key"))
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(d.join("ec.key"))
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    for key in ["rsa", "ec"] {
        openssl(
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{key}.key"),
                "-out",
                &format!("{key}.crt"),
                "-days",
                "2",
                "-subj",
                "/CN=goshelf test",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            d,
        );
        let cert = d.join(format!("{key}.crt"));
        let keyf = d.join(format!("{key}.key"));
        let server = TestServer::start_tls(
            false,
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                keyf.to_str().unwrap(),
            ],
            &[],
        );
        let resp = get_tls(&format!("{}/healthz", server.tls_url()), &cert);
        eqnice!(
            (200, "ok\n".to_owned()),
            (resp.status, resp.text()),
            "{key}"
        );
        // No local CA in this mode.
        eqnice!(
            404,
            get_tls(&format!("{}/ca.pem", server.tls_url()), &cert).status
        );
    }
    // The RSA certificate with the EC key: refused at startup with a reason.
    let out = goshelf(
        &[
            "serve",
            "--db",
            d.join("g.redb").to_str().unwrap(),
            "--listen",
            "off",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            d.join("rsa.crt").to_str().unwrap(),
            "--tls-key",
            d.join("ec.key").to_str().unwrap(),
        ],
        &[("GOSHELF_ADMIN_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(30),
    );
    assert!(!out.status.success(), "{}", describe_output("serve", &out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not usable together"), "{stderr}");
    // A key file without a key names the file.
    let out = goshelf(
        &[
            "serve",
            "--db",
            d.join("g.redb").to_str().unwrap(),
            "--tls-cert",
            d.join("rsa.crt").to_str().unwrap(),
            "--tls-key",
            d.join("rsa.crt").to_str().unwrap(),
        ],
        &[("GOSHELF_ADMIN_TOKEN", ADMIN_TOKEN)],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rsa.crt") && stderr.contains("no private key"),
        "{stderr}"
    );
}

/// Reads until the server closes the connection (a reset counts as closed); fails on the
/// read timeout.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server did not close the connection: {e}"),
    }
    buf
}

/// Clients that open a TCP connection and then stall, or send garbage instead of a
/// ClientHello, must not delay a real client, and the stalled ones are dropped after the
/// handshake timeout (10 s).
#[test]
fn stalled_and_garbage_handshakes_do_not_block_other_clients() {
    let server = start_self_signed(false, &[]);
    let ca = export_ca_online(&server);
    let addr = server.tls_addr().to_owned();
    let mut stalled: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Half a ClientHello record header, then nothing.
    for s in stalled.iter_mut().take(10) {
        s.write_all(&[0x16, 0x03, 0x01]).unwrap();
    }
    let mut garbage: Vec<TcpStream> = (0..10)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    for _ in 0..5 {
        let resp = get_tls(&format!("{}/healthz", server.tls_url()), &ca);
        eqnice!(200, resp.status);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "5 requests took {elapsed:?} beside 60 stalled or garbage connections"
    );
    // Garbage is answered (a TLS alert at most) and closed at once.
    for s in &mut garbage {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let buf = read_until_closed(s);
        assert!(buf.len() < 100, "garbage got {} bytes back", buf.len());
    }
    // The stalled ones are closed after the handshake timeout.
    let waited = Instant::now();
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        read_until_closed(s);
    }
    let closed_after = started.elapsed();
    assert!(
        closed_after >= Duration::from_secs(9) && waited.elapsed() < Duration::from_secs(20),
        "stalled handshakes closed after {closed_after:?}"
    );
}

/// `goshelf publish` and the admin commands reach an HTTPS server whose CA is in
/// `SSL_CERT_FILE`, and refuse it without.
#[test]
fn publish_and_verify_over_https_trust_ssl_cert_file() {
    let server = start_self_signed(false, &[]);
    let ca = export_ca_online(&server);
    let module = server.dir().join("hello");
    std::fs::create_dir_all(&module).unwrap();
    std::fs::write(
        module.join("go.mod"),
        "module example.com/hello\n\ngo 1.19\n",
    )
    .unwrap();
    std::fs::write(module.join("hello.go"), "package hello\n").unwrap();
    let publish = |env: &[(&str, &str)]| {
        let mut all = vec![("GOSHELF_TOKEN", ADMIN_TOKEN)];
        all.extend_from_slice(env);
        goshelf(
            &[
                "publish",
                module.to_str().unwrap(),
                "--version",
                "v1.0.0",
                "--server",
                server.tls_url(),
                "--owner",
                OWNER,
            ],
            &all,
            Duration::from_secs(60),
        )
    };
    let refused = publish(&[("SSL_CERT_FILE", "")]);
    assert!(
        !refused.status.success(),
        "{}",
        describe_output("publish", &refused)
    );
    let text = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("issuer"),
        "{text}"
    );

    let out = publish(&[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert!(out.status.success(), "{}", describe_output("publish", &out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("published example.com/hello@v1.0.0"));

    let out = goshelf(
        &["verify", "--server", server.tls_url()],
        &[
            ("GOSHELF_TOKEN", ADMIN_TOKEN),
            ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", describe_output("verify", &out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verify: 1 versions"));
}

/// The go command fetches a module through an HTTPS GOPROXY, trusting the exported CA
/// through `SSL_CERT_FILE`, and its `Sum` is the server's h1.
fn go_mod_download_over_https(go: Go) {
    go.bin();
    let server = start_self_signed(false, &[]);
    let ca = export_ca_online(&server);
    let base = format!("{}/api/packages/{OWNER}/go", server.tls_url());
    let zip = ModZip::from_fixture("tool", "example.com/tool", "v1.0.0");
    let file = server.write_scratch("tool.zip", &zip.bytes());
    let up = parse_upload(&http::put_file(
        &format!("{base}/upload"),
        &Auth::Bearer(ADMIN_TOKEN),
        &file,
        &["--cacert", ca.to_str().unwrap()],
    ));
    let mut env = GoEnv::new(go, &base);
    env.set_env("SSL_CERT_FILE", ca.to_str().unwrap());
    env.set_env("SSL_CERT_DIR", "/nonexistent");
    let dir = env.empty_dir("download");
    let out = env.stdout(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    eqnice!(up.h1.as_str(), json["Sum"].as_str().unwrap(), "{json:#}");
    eqnice!(up.go_mod_h1.as_str(), json["GoModSum"].as_str().unwrap());
    assert!(std::fs::read(json["Zip"].as_str().unwrap()).unwrap() == zip.bytes());

    // Without the CA, go refuses the server (and says why).
    let mut untrusting = GoEnv::new(go, &base);
    untrusting.set_env("SSL_CERT_FILE", "/dev/null");
    untrusting.set_env("SSL_CERT_DIR", "/nonexistent");
    let dir = untrusting.empty_dir("download");
    let out = untrusting.run_expect_fail(
        &["mod", "download", "-json", "example.com/tool@v1.0.0"],
        &dir,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("certificate"), "{text}");
}

mod go_mod_download_over_https {
    #[test]
    fn go1_27() {
        super::go_mod_download_over_https(crate::support::Go::V1_27);
    }
    #[test]
    fn go1_19() {
        super::go_mod_download_over_https(crate::support::Go::V1_19);
    }
}
