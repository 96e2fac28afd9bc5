//! The gRPC client transport shared by the client commands (`send`, `load`,
//! `replay`, `--demo`) and forwarding: where and how to connect
//! ([`Target`]), the bearer token, and one actionable line per failure
//! ([`diagnose`]).

pub mod diagnose;
pub mod unsent;

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::proto::AlertRequest;
use crate::proto::alert_sink_client::AlertSinkClient;
use crate::sink::auth::signature::{self, Signer};

/// Adds `authorization: Bearer …` when a token is set.
#[derive(Clone, Default)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Auth {
    pub fn bearer(token: Option<&str>) -> Result<Auth, String> {
        match token {
            None => Ok(Auth(None)),
            Some(t) => format!("Bearer {t}")
                .parse()
                .map(|v| Auth(Some(v)))
                .map_err(|_| "token is not valid in an HTTP header".to_owned()),
        }
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub type Client = AlertSinkClient<InterceptedService<Channel, Auth>>;

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Signs every request's payload (`--sign`).
    pub signer: Option<Arc<Signer>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are not printed.
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

/// A request for `alert`, signed (a fresh timestamp and nonce) when a
/// signer is given. Sign each attempt anew: a signature is single-use.
pub fn signed_request(
    signer: Option<&Signer>,
    alert: AlertRequest,
) -> tonic::Request<AlertRequest> {
    let header = signer.map(|s| s.header(&prost::Message::encode_to_vec(&alert)));
    let mut req = tonic::Request::new(alert);
    if let Some(h) = header
        && let Ok(v) = h.parse()
    {
        req.metadata_mut().insert(signature::HEADER, v);
    }
    req
}

impl Target {
    pub fn plain(url: impl Into<String>) -> Target {
        Target {
            url: url.into(),
            ..Target::default()
        }
    }

    /// A request for `alert`, signed when `--sign` was given.
    pub fn request(&self, alert: AlertRequest) -> tonic::Request<AlertRequest> {
        signed_request(self.signer.as_deref(), alert)
    }

    /// The URL with a scheme (bare `host:port` means plain http).
    pub fn normalized_url(&self) -> Result<String, String> {
        normalize_url(&self.url)
    }

    /// An endpoint with TLS set up for https:// URLs. Connecting is lazy.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let url = self.normalized_url()?;
        let mut ep = Endpoint::from_shared(url.clone())
            .map_err(|e| format!("invalid URL {}: {e}", self.url))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            tls = match &self.ca_pem {
                Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                None => tls.with_native_roots(),
            };
            if let Some((cert, key)) = &self.client_identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            ep = ep
                .tls_config(tls)
                .map_err(|e| format!("TLS setup for {}: {e}", self.url))?;
        }
        Ok(ep)
    }

    /// Checks what needs no network — the URL, the TLS files, the token —
    /// so that callers can report those as usage errors before connecting.
    /// Opens nothing (a channel would need a runtime).
    pub fn check(&self) -> Result<(), String> {
        self.endpoint()?;
        Auth::bearer(self.token.as_deref()).map(drop)
    }

    /// A client over a connection opened now (TCP, and the TLS handshake for
    /// https://), so that a sink that cannot be reached is reported as such,
    /// as one line naming the URL and the likely cause, before any call; and
    /// so that a call failing afterwards is known to have failed on an open
    /// connection (see [`diagnose::Stage`]).
    pub async fn connect(&self) -> Result<Client, String> {
        let channel = self
            .endpoint()?
            .connect()
            .await
            .map_err(|e| diagnose::connect_failure(self, &e))?;
        self.client_on(channel)
    }

    /// A client over one HTTP/2 connection (established on first use).
    pub fn client(&self) -> Result<Client, String> {
        let channel = self.endpoint()?.connect_lazy();
        self.client_on(channel)
    }

    pub fn client_on(&self, channel: Channel) -> Result<Client, String> {
        let auth = Auth::bearer(self.token.as_deref())?;
        Ok(AlertSinkClient::with_interceptor(channel, auth).max_decoding_message_size(64 * 1024))
    }
}

/// `http://h:p` and `https://h:p` as they are; bare `h:p` becomes `http://h:p`.
pub fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("empty URL".to_owned());
    }
    let full = if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else if url.contains("://") {
        return Err(format!(
            "unsupported URL {url:?}: use http://host:port, https://host:port or host:port"
        ));
    } else {
        format!("http://{url}")
    };
    let uri: tonic::codegen::http::Uri = full
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if uri.host().is_none() || uri.port_u16().is_none() {
        return Err(format!("invalid URL {url:?}: expected host:port"));
    }
    Ok(full)
}

/// A status as one line: `CODE: message`.
pub fn describe_status(s: &tonic::Status) -> String {
    let msg = crate::sanitize::line(s.message());
    if msg.is_empty() {
        format!("{:?}", s.code())
    } else {
        format!("{:?}: {msg}", s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(
            normalize_url("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(normalize_url("localhost:1").unwrap(), "http://localhost:1");
        assert_eq!(
            normalize_url("https://sink.example:443").unwrap(),
            "https://sink.example:443"
        );
        assert!(normalize_url("ftp://x:1").is_err());
        assert!(normalize_url("").is_err());
        assert!(normalize_url("hostonly").is_err());
    }
}
