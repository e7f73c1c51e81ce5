//! Offline PKI: the kubeadm CAs, service-account key, bootstrap token and
//! certificate key; Istio's plug-in CA (a mesh root and one intermediate per
//! cluster); the ingress gateway's TLS certificate. Pure Rust crypto; the time
//! and the random source are passed in.

pub mod cert;
pub mod files;
pub mod key;
pub mod names;
pub mod secrets;

pub use secrets::{BootstrapToken, CertificateKey, CredentialError, SiteSecrets, generate, rotate};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}")]
    Pem(String),
    #[error("key: {0}")]
    Key(String),
    #[error("certificate: {0}")]
    Cert(String),
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Expired(String),
    /// The secrets file cannot be read or written: `LINE:COL: FIELD: MESSAGE`
    /// when the place is known, so a caller can put `FILE:` in front.
    #[error("{0}")]
    Format(String),
}

/// Reads a secrets file (YAML).
pub fn parse_secrets(text: &str) -> Result<SiteSecrets, PkiError> {
    crate::yaml::from_str(text).map_err(|e| PkiError::Format(e.to_string()))
}

/// Writes a secrets file (YAML) with a header.
pub fn write_secrets(s: &SiteSecrets) -> Result<String, PkiError> {
    let body = crate::yaml::to_string(s).map_err(|e| PkiError::Format(e.to_string()))?;
    Ok(format!(
        "# meshbundle site secrets for `{}`. Keep this file private (mode 0600) and backed up:\n\
         # every render and build of this site reuses it.\n{body}",
        s.site
    ))
}
