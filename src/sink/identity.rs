//! A short, human-readable identity for a verified client certificate.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Describes a DER certificate for display and JSON: its subject and, when
/// present, its DNS/URI subject alternative names, e.g.
/// `CN=allstar (DNS:allstar.example.org)`. TLS has already verified it.
pub fn describe(der: &[u8]) -> String {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return "unparsable client certificate".to_owned();
    };
    let subject = cert.subject().to_string();
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(format!("DNS:{d}")),
                GeneralName::URI(u) => sans.push(format!("URI:{u}")),
                GeneralName::RFC822Name(e) => sans.push(format!("email:{e}")),
                _ => {}
            }
        }
    }
    match (subject.is_empty(), sans.is_empty()) {
        (false, true) => subject,
        (true, false) => sans.join(", "),
        (false, false) => format!("{subject} ({})", sans.join(", ")),
        (true, true) => "client certificate without subject".to_owned(),
    }
}
