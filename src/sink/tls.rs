//! Server TLS and mTLS configuration, and the verified client identity.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, CertificateDer, Identity, Server, ServerTlsConfig};
use x509_parser::pem::Pem;

/// The files of the server's TLS setup.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With a client CA, every client must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    crate::files::read_limited_bytes(path, crate::files::MAX_KEY_FILE)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

/// The PEM blocks of a file; errors name the file.
fn pem_blocks(bytes: &[u8], path: &Path, what: &str) -> Result<Vec<Pem>, String> {
    let mut blocks = Vec::new();
    for (i, block) in Pem::iter_from_buffer(bytes).enumerate() {
        let block = block.map_err(|e| {
            format!(
                "{what} {}: PEM block {} is invalid: {e}",
                path.display(),
                i + 1
            )
        })?;
        blocks.push(block);
        if blocks.len() > 1000 {
            return Err(format!(
                "{what} {}: more than 1000 PEM blocks",
                path.display()
            ));
        }
    }
    Ok(blocks)
}

/// Checks that a file holds at least one PEM certificate and that every
/// certificate in it parses.
fn check_certificates(bytes: &[u8], path: &Path, what: &str) -> Result<(), String> {
    let blocks = pem_blocks(bytes, path, what)?;
    let mut found = 0;
    for (i, block) in blocks.iter().enumerate() {
        if block.label != "CERTIFICATE" {
            continue;
        }
        block.parse_x509().map_err(|e| {
            format!(
                "{what} {}: PEM block {} is not a valid X.509 certificate: {e}",
                path.display(),
                i + 1
            )
        })?;
        found += 1;
    }
    if found == 0 {
        return Err(format!(
            "{what} {}: no certificate found (expected PEM with -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(())
}

/// Checks that a file holds an unencrypted PEM private key.
fn check_key(bytes: &[u8], path: &Path) -> Result<(), String> {
    let blocks = pem_blocks(bytes, path, "TLS key")?;
    if blocks.iter().any(|b| b.label == "ENCRYPTED PRIVATE KEY") {
        return Err(format!(
            "TLS key {}: encrypted private keys are not supported; decrypt it first \
             (e.g. openssl pkey -in KEY -out KEY.plain)",
            path.display()
        ));
    }
    if !blocks.iter().any(|b| b.label.ends_with("PRIVATE KEY")) {
        return Err(format!(
            "TLS key {}: no private key found (expected PEM with -----BEGIN PRIVATE KEY-----, \
             RSA PRIVATE KEY or EC PRIVATE KEY)",
            path.display()
        ));
    }
    Ok(())
}

impl TlsFiles {
    /// Reads and checks the files into a tonic TLS config. Every error is
    /// one line naming the file: unreadable, not PEM, no certificate, no or
    /// an encrypted key, a key that does not match the certificate, an
    /// empty or invalid client CA.
    pub fn load(&self) -> Result<ServerTlsConfig, String> {
        let cert = read(&self.cert, "TLS certificate")?;
        check_certificates(&cert, &self.cert, "TLS certificate")?;
        let key = read(&self.key, "TLS key")?;
        check_key(&key, &self.key)?;
        let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.client_ca {
            let pem = read(ca, "client CA")?;
            check_certificates(&pem, ca, "client CA")?;
            cfg = cfg.client_ca_root(Certificate::from_pem(pem));
        }
        // rustls checks what is left: the key type is supported and matches
        // the certificate, the client CA can anchor verification.
        Server::builder().tls_config(cfg.clone()).map_err(|e| {
            let why = full_chain(&e);
            match &self.client_ca {
                Some(ca) => format!(
                    "TLS certificate {}, key {} and client CA {} do not work together: {why}",
                    self.cert.display(),
                    self.key.display(),
                    ca.display()
                ),
                None => format!(
                    "TLS certificate {} and key {} do not work together: {why}",
                    self.cert.display(),
                    self.key.display()
                ),
            }
        })?;
        Ok(cfg)
    }
}

impl TlsFiles {
    /// The acceptor the sink's own handshakes use ([`handshakes`]): the
    /// certificate, key and client CA that [`TlsFiles::load`] checked, in
    /// the rustls setup tonic would make of them (ALPN `h2`, as gRPC needs).
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
        let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            format!("{what} {}: {e}", path.display())
        };
        let cert = read(&self.cert, "TLS certificate")?;
        let chain = CertificateDer::pem_slice_iter(&cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("TLS certificate", &self.cert, &e))?;
        let key = read(&self.key, "TLS key")?;
        let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad("TLS key", &self.key, &e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let pem = read(ca, "client CA")?;
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("client CA", ca, &e))?;
                roots.add_parsable_certificates(certs);
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    provider,
                )
                .build()
                .map_err(|e| bad("client CA", ca, &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS certificate {}: {e}", self.cert.display()))?;
        config.alpn_protocols.push(b"h2".to_vec());
        Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
    }
}

/// The sink's TLS handshakes, done here rather than by tonic so that a
/// failed one is seen: counted `tls_handshake` with the peer and the cause
/// (refused requests list it), and logged. A review found an mTLS sink's
/// refused clients (no certificate, another CA's, plaintext) left no trace.
/// Each handshake runs in its own task, so a slow one delays no other;
/// their deadline is the connection's first-request deadline (`conn`).
pub(crate) fn handshakes(
    incoming: super::conn::LimitedIncoming,
    acceptor: tokio_rustls::TlsAcceptor,
    hub: std::sync::Arc<crate::hub::Hub>,
) -> impl futures_util::Stream<
    Item = std::io::Result<tokio_rustls::server::TlsStream<super::conn::LimitedIo>>,
> + Send
+ 'static {
    use futures_util::StreamExt;
    use tonic::transport::server::Connected;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut incoming = std::pin::pin!(incoming);
        let mut tasks = tokio::task::JoinSet::new();
        let log = FailureLog::default();
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some(Ok(io)) => {
                        let peer = io.connect_info().remote_addr();
                        let acceptor = acceptor.clone();
                        tasks.spawn(async move { (peer, acceptor.accept(io).await) });
                    }
                    Some(Err(e)) => {
                        if tx.send(Err(e)).await.is_err() {
                            break;
                        }
                    }
                    // The listener closed: shutting down.
                    None => break,
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let Ok((peer, result)) = done else { continue };
                    match result {
                        Ok(tls) => {
                            if tx.send(Ok(tls)).await.is_err() {
                                break;
                            }
                        }
                        // What the client sent did not make a handshake
                        // (rustls says InvalidData). An EOF before anything
                        // (a TCP probe), a reset, or the deadline (counted
                        // idle_timeout by `conn`) are not refusals here.
                        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                            let why = format!("TLS handshake failed: {e}");
                            hub.refuse_from(crate::hub::Refusal::TlsHandshake, peer, Some(&why));
                            log.say(peer, &why);
                        }
                        Err(_) => {}
                    }
                }
                () = tx.closed() => break,
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Logs failed handshakes, at most [`FailureLog::PER_MINUTE`] lines a
/// minute: a scan or a misconfigured client fleet must not fill the log.
#[derive(Default)]
struct FailureLog {
    minute: std::cell::Cell<u64>,
    said: std::cell::Cell<u32>,
    held: std::cell::Cell<u64>,
}

impl FailureLog {
    const PER_MINUTE: u32 = 10;

    fn say(&self, peer: Option<std::net::SocketAddr>, why: &str) {
        let minute = crate::hub::now_ms() / 60_000;
        if minute != self.minute.get() {
            if self.held.get() > 0 {
                tracing::warn!("{} more failed TLS handshakes not logged", self.held.get());
            }
            self.minute.set(minute);
            self.said.set(0);
            self.held.set(0);
        }
        if self.said.get() < Self::PER_MINUTE {
            self.said.set(self.said.get() + 1);
            let from = peer.map_or_else(|| "a peer".to_owned(), |p| p.to_string());
            tracing::warn!("{from}: {}", crate::sanitize::line(why));
        } else {
            self.held.set(self.held.get() + 1);
        }
    }
}

impl TlsFiles {
    /// What is loadable but will not work as meant, one line each: a server
    /// certificate that has expired or is not valid yet, or is a CA's
    /// (clients refuse it), and a client CA file holding a certificate that is not a CA
    /// (a leaf given by mistake). Call after [`TlsFiles::load`] succeeded.
    pub fn warnings(&self) -> Vec<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut out = Vec::new();
        let certs = |path: &Path| -> Vec<Pem> {
            crate::files::read_limited_bytes(path, crate::files::MAX_KEY_FILE)
                .ok()
                .and_then(|b| pem_blocks(&b, path, "").ok())
                .unwrap_or_default()
                .into_iter()
                .filter(|b| b.label == "CERTIFICATE")
                .collect()
        };
        if let Some(block) = certs(&self.cert).first()
            && let Ok(cert) = block.parse_x509()
        {
            if matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca) {
                out.push(format!(
                    "TLS certificate {} is a CA certificate (basicConstraints CA:TRUE, as plain \
                     `openssl req -x509` makes): TLS clients refuse a CA as a server's own \
                     certificate; give the sink a certificate issued by a CA",
                    self.cert.display()
                ));
            }
            let v = cert.validity();
            if v.not_after.timestamp() < now {
                out.push(format!(
                    "TLS certificate {} expired on {}: clients will refuse it",
                    self.cert.display(),
                    rfc3339(v.not_after.timestamp())
                ));
            } else if v.not_before.timestamp() > now {
                out.push(format!(
                    "TLS certificate {} is not valid until {}: clients will refuse it until then",
                    self.cert.display(),
                    rfc3339(v.not_before.timestamp())
                ));
            }
        }
        if let Some(ca) = &self.client_ca {
            for (i, block) in certs(ca).iter().enumerate() {
                let Ok(cert) = block.parse_x509() else {
                    continue;
                };
                let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
                if !is_ca {
                    out.push(format!(
                        "client CA {}: certificate {} ({}) is not a CA certificate (a leaf?); give the CA that signs the clients' certificates",
                        ca.display(),
                        i + 1,
                        crate::sanitize::line(&cert.subject().to_string())
                    ));
                }
            }
        }
        out
    }
}

/// A certificate time (seconds since the epoch) as RFC 3339.
fn rfc3339(secs: i64) -> String {
    crate::record::format_time(u64::try_from(secs).unwrap_or(0).saturating_mul(1000))
}

/// An error and all its sources, joined with `: `, skipping repeats.
fn full_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        // tonic's outer "transport error" says nothing here.
        if !s.is_empty() && s != "transport error" && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// The identity of a verified client certificate chain (its leaf): see
/// [`super::identity::describe`].
pub fn identity_of_chain(chain: &[CertificateDer<'static>]) -> Option<String> {
    let leaf = chain.first()?;
    Some(super::identity::describe(leaf.as_ref()))
}

/// The verified client certificate's identity, when the connection is mTLS:
/// its subject and subject alternative names (see
/// [`super::identity::describe`]).
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Option<String> {
    super::conn::peer_of(request.extensions()).1
}
