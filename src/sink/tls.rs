//! Server TLS and mTLS configuration, and the verified client identity.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The files of the server's TLS setup.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With a client CA, every client must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

impl TlsFiles {
    /// Reads the files into a tonic TLS config; errors name the file.
    pub fn load(&self) -> Result<ServerTlsConfig, String> {
        let cert = read(&self.cert, "TLS certificate")?;
        let key = read(&self.key, "TLS key")?;
        if !cert.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(format!(
                "TLS certificate {} is not PEM (no -----BEGIN line)",
                self.cert.display()
            ));
        }
        let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        if let Some(ca) = &self.client_ca {
            let pem = read(ca, "client CA")?;
            cfg = cfg.client_ca_root(Certificate::from_pem(pem));
        }
        Ok(cfg)
    }
}

/// The verified client certificate's identity, when the connection is mTLS:
/// its DNS names, or a digest of the certificate when it has none.
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Option<String> {
    let certs = request.peer_certs()?;
    let leaf = certs.first()?;
    Some(super::identity::describe(leaf.as_ref()))
}
