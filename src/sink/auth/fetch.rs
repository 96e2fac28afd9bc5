//! A tiny HTTPS GET client for the few documents authentication needs (an
//! OIDC discovery document, a JWKS), on what the tree already has — hyper's
//! HTTP/1 client over tokio-rustls with the system's roots — instead of a
//! full HTTP client crate.
//!
//! Bounded in time (one deadline for connect, handshake and body) and in
//! bytes (the body is read up to a limit, then refused). Plain `http://` is
//! allowed only to loopback hosts (tests, and an issuer proxy on the same
//! machine): keys fetched over the network must come over TLS.
//!
//! The roots trusted are the system's, as rustls-native-certs finds them:
//! `SSL_CERT_FILE` (a PEM file) or `SSL_CERT_DIR`, when set, replace the
//! system store — how an operator trusts a private issuer's CA (README,
//! "OIDC identity tokens"). Tests give their own roots ([`Trust`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Largest document accepted.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Deadline of one fetch, from connect to the last byte.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `host` (as in a URL) is this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a URL without fetching: `https://…`, or `http://` to loopback.
pub fn check_url(url: &str) -> Result<(http::Uri, bool), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let host = uri
        .host()
        .ok_or_else(|| format!("invalid URL {url:?}: no host"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if is_loopback_host(host) => false,
        Some("http") => {
            return Err(format!(
                "{url}: plain http:// is only allowed to loopback; use https://"
            ));
        }
        _ => return Err(format!("invalid URL {url:?}: expected https://")),
    };
    Ok((uri, tls))
}

fn tls_config() -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<tokio_rustls::rustls::ClientConfig>, String>> =
        OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no system root certificates found for https://".to_owned());
            }
            let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
                tokio_rustls::rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// The roots an `https://` fetch trusts: the system's (the default), or
/// only the given ones (tests, with a CA of their own).
#[derive(Clone, Default)]
pub struct Trust(Option<Arc<tokio_rustls::rustls::ClientConfig>>);

impl Trust {
    /// Trusts only the CA certificate `ca_der` (DER).
    #[cfg(any(test, feature = "test-support"))]
    pub fn only(ca_der: &[u8]) -> Result<Trust, String> {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots
            .add(ca_der.to_vec().into())
            .map_err(|e| format!("the CA certificate: {e}"))?;
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Trust(Some(Arc::new(config))))
    }

    fn config(&self) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
        match &self.0 {
            Some(c) => Ok(c.clone()),
            None => tls_config(),
        }
    }
}

/// GETs `url` and returns its body (status 200 only), trusting `trust`'s
/// roots. Errors are one line naming the URL.
pub async fn get_trusting(url: &str, trust: &Trust) -> Result<Vec<u8>, String> {
    match tokio::time::timeout(TIMEOUT, get_inner(url, trust)).await {
        Ok(Ok((200, body))) => Ok(body),
        Ok(Ok((status, _))) => Err(format!("{url}: HTTP status {status}")),
        Ok(Err(e)) => Err(format!("{url}: {e}")),
        Err(_) => Err(format!("{url}: no answer within {} s", TIMEOUT.as_secs())),
    }
}

/// GETs `url` and returns the status and body, whatever the status.
/// Errors name `shown` (a URL without the secret in its query).
pub async fn get_with_status(url: &str, shown: &str) -> Result<(u16, Vec<u8>), String> {
    match tokio::time::timeout(TIMEOUT, get_inner(url, &Trust::default())).await {
        Ok(r) => r.map_err(|e| format!("{shown}: {e}")),
        Err(_) => Err(format!("{shown}: no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn get_inner(url: &str, trust: &Trust) -> Result<(u16, Vec<u8>), String> {
    let (uri, tls) = check_url(url)?;
    let host = uri.host().unwrap_or_default().to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let authority = uri
        .authority()
        .map_or(host.clone(), |a| a.as_str().to_owned());
    let request = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, "sinkwatch")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    if tls {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(bare)
            .map_err(|e| format!("invalid host name: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(trust.config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(TokioIo::new(stream), request).await
    } else {
        send(TokioIo::new(tcp), request).await
    }
}

async fn send<IO>(io: IO, request: http::Request<Empty<Bytes>>) -> Result<(u16, Vec<u8>), String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e} (limit {MAX_BYTES} bytes)"))?;
        Ok((status, body.to_bytes().to_vec()))
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("https://accounts.google.com/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://localhost:8080/jwks").is_ok());
        assert!(check_url("http://[::1]:8080/jwks").is_ok());
        let e = check_url("http://issuer.example/jwks").unwrap_err();
        assert!(e.contains("only allowed to loopback"), "{e}");
        assert!(check_url("ftp://x/y").is_err());
    }
}
