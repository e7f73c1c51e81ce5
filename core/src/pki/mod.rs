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

use crate::diag::Diagnostic;
use crate::spec::Site;
use crate::spec::load::Positions;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}")]
    Pem(String),
    /// A key or certificate the cryptography libraries could not make,
    /// encode or read: what, with their error kept whole.
    #[error("{what}")]
    Crypto {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Expired(String),
    /// The secrets file cannot be read or written: `LINE:COL: FIELD: MESSAGE`
    /// when the place is known, so a caller can put `FILE:` in front.
    #[error(transparent)]
    Format(#[from] crate::yaml::YamlError),
}

impl PkiError {
    /// `what` failed, because of the library error `source`.
    pub fn crypto(what: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> PkiError {
        PkiError::Crypto {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Reads a secrets file (YAML).
pub fn parse_secrets(text: &str) -> Result<SiteSecrets, PkiError> {
    SecretsFile::parse(text).map(|f| f.secrets)
}

/// A secrets file as read: the secrets, and where each field is in its text,
/// so that what the checks say about a field names its line and column.
#[derive(Debug, Clone)]
pub struct SecretsFile {
    pub secrets: SiteSecrets,
    positions: Positions,
}

impl SecretsFile {
    /// Reads a secrets file (YAML).
    pub fn parse(text: &str) -> Result<SecretsFile, PkiError> {
        // What is wrong is said without the values: they are secrets.
        let (secrets, positions) = crate::yaml::from_str_located(text).map_err(|mut e| {
            e.message = crate::yaml::without_values(&e.message);
            e
        })?;
        Ok(SecretsFile { secrets, positions })
    }

    /// [`SiteSecrets::check_material`], each diagnostic at its field.
    pub fn check_material(&self, now: u64) -> Vec<Diagnostic> {
        let mut diags = self.secrets.check_material(now);
        self.positions.locate(&mut diags);
        diags
    }

    /// [`SiteSecrets::check`], each diagnostic at its field.
    pub fn check(&self, site: &Site, now: u64) -> Vec<Diagnostic> {
        let mut diags = self.secrets.check(site, now);
        self.positions.locate(&mut diags);
        diags
    }
}

/// Writes a secrets file (YAML) with a header.
pub fn write_secrets(s: &SiteSecrets) -> Result<String, PkiError> {
    let body = crate::yaml::to_string(s)?;
    Ok(format!(
        "# meshbundle site secrets for `{}`. Keep this file private (mode 0600) and backed up:\n\
         # every render and build of this site reuses it.\n{body}",
        s.site
    ))
}
