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
