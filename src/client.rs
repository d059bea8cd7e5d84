//! The HTTP client side of the CLI: talking to a running goshelf as an admin or publisher.

use anyhow::{bail, Context};

/// A client for one server, with a token.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `server` (`http://host:port`), authenticating with `token`.
    ///
    /// # Errors
    /// When the token is missing.
    pub fn new(server: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let token = token
            .filter(|t| !t.is_empty())
            .context("a token is needed: set GOSHELF_TOKEN (or pass --token)")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls_config()?)
            .build()
            .into();
        Ok(Self {
            base: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent,
        })
    }

    /// `GET {server}{path}`; any status but 200 is an error carrying the server's reason.
    ///
    /// # Errors
    /// Network errors and non-200 answers.
    pub fn get(&self, path: &str) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("connecting to {url}"))?;
        if resp.status().as_u16() != 200 {
            let status = resp.status().as_u16();
            let reason = resp.body_mut().read_to_string().unwrap_or_default();
            bail!(
                "{url}: {status}: {}",
                reason.lines().next().unwrap_or("").trim()
            );
        }
        Ok(resp)
    }
}

impl Client {
    /// Sends `method {server}{path}` with an optional JSON body; returns the status and the
    /// body text, whatever the status.
    ///
    /// # Errors
    /// Network errors.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<(u16, String)> {
        let url = format!("{}{path}", self.base);
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token));
        let result = match body {
            Some(v) => {
                let req = builder
                    .header("Content-Type", "application/json")
                    .body(v.to_string())
                    .context("building the request")?;
                self.agent.run(req)
            }
            None => {
                let req = builder.body(()).context("building the request")?;
                self.agent.run(req)
            }
        };
        let mut resp = result.with_context(|| format!("connecting to {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Ok((status, text))
    }
}

/// TLS settings of every goshelf client: the certificates in `SSL_CERT_FILE` as the only
/// roots when it is set (as for the go command and curl on Linux, so a server with a
/// `--tls-self-signed` CA is reached with `SSL_CERT_FILE=ca.pem`), else the bundled Mozilla
/// roots.
///
/// # Errors
/// An unreadable `SSL_CERT_FILE`, or one without a certificate.
pub fn tls_config() -> anyhow::Result<ureq::tls::TlsConfig> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else {
        return Ok(ureq::tls::TlsConfig::default());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let pem = std::fs::read(&path).with_context(|| format!("reading SSL_CERT_FILE {shown}"))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) =
            item.with_context(|| format!("SSL_CERT_FILE {shown}"))?
        {
            roots.push(c);
        }
    }
    if roots.is_empty() {
        bail!("SSL_CERT_FILE {shown} holds no certificate");
    }
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
        .build())
}
