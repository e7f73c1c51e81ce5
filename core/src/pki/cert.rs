//! Issuing and reading X.509 certificates (RustCrypto's x509-cert builder
//! with a profile of our own, so every extension is the one the consumer
//! needs: kubeadm, Istio's plug-in CA, a TLS gateway).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use der::asn1::Ia5String;
use der::{DateTime, Decode, Encode, EncodePem};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use super::PkiError;
use super::key::PrivateKey;

/// What a certificate is for.
#[derive(Debug, Clone)]
pub enum Usage {
    /// A certificate authority; `path_len` limits the CAs below it.
    Ca { path_len: Option<u8> },
    /// A TLS server certificate for these DNS names and addresses.
    Server { dns: Vec<String>, ips: Vec<IpAddr> },
}

struct Profile {
    subject: Name,
    issuer: Option<Name>,
    usage: Usage,
    rsa: bool,
}

fn err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> PkiError {
    PkiError::crypto("a certificate could not be made or encoded", e)
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut ext: Vec<Extension> = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki = SubjectKeyIdentifier::try_from(issuer_spk)?;
        ext.push(ski.clone().to_extension(tbs.subject(), &ext)?);
        ext.push(
            AuthorityKeyIdentifier {
                key_identifier: Some(aki.0),
                ..Default::default()
            }
            .to_extension(tbs.subject(), &ext)?,
        );
        match &self.usage {
            Usage::Ca { path_len } => {
                ext.push(
                    BasicConstraints {
                        ca: true,
                        path_len_constraint: *path_len,
                    }
                    .to_extension(tbs.subject(), &ext)?,
                );
                let ku = KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature;
                ext.push(KeyUsage(ku).to_extension(tbs.subject(), &ext)?);
            }
            Usage::Server { dns, ips } => {
                ext.push(
                    BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    }
                    .to_extension(tbs.subject(), &ext)?,
                );
                let mut ku: der::flagset::FlagSet<KeyUsages> = KeyUsages::DigitalSignature.into();
                if self.rsa {
                    ku |= KeyUsages::KeyEncipherment;
                }
                ext.push(KeyUsage(ku).to_extension(tbs.subject(), &ext)?);
                ext.push(
                    ExtendedKeyUsage(vec![const_oid::db::rfc5280::ID_KP_SERVER_AUTH])
                        .to_extension(tbs.subject(), &ext)?,
                );
                let mut names = Vec::new();
                for d in dns {
                    names.push(GeneralName::DnsName(
                        Ia5String::new(d).map_err(x509_cert::builder::Error::Asn1)?,
                    ));
                }
                for ip in ips {
                    names.push(GeneralName::from(*ip));
                }
                if !names.is_empty() {
                    ext.push(SubjectAltName(names).to_extension(tbs.subject(), &ext)?);
                }
            }
        }
        Ok(ext)
    }
}

/// A certificate's validity window, in Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub not_before: u64,
    pub not_after: u64,
}

impl Window {
    /// From `now` (backdated by an hour for clock skew) for `days`.
    pub fn days(now: u64, days: u32) -> Window {
        Window {
            not_before: now.saturating_sub(3600),
            not_after: now + u64::from(days) * 86_400,
        }
    }
}

fn time(secs: u64) -> Result<Time, PkiError> {
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(err)?;
    Ok(Time::from(dt))
}

/// Issues a certificate for `subject_key`'s public key. Self-signed when
/// `issuer` is `None`.
pub fn issue<R: CryptoRng + ?Sized>(
    subject: &str,
    subject_key: &PrivateKey,
    issuer: Option<(&Certificate, &PrivateKey)>,
    usage: Usage,
    window: Window,
    rng: &mut R,
) -> Result<Certificate, PkiError> {
    let subject_name = Name::from_str(subject).map_err(err)?;
    let signer_key = issuer.map(|(_, k)| k).unwrap_or(subject_key);
    let profile = Profile {
        subject: subject_name,
        issuer: issuer.map(|(c, _)| c.tbs_certificate().subject().clone()),
        usage,
        rsa: matches!(subject_key, PrivateKey::Rsa(_)),
    };
    // A positive serial of 16 random bytes.
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let serial = SerialNumber::new(&serial).map_err(err)?;
    let validity = Validity::new(time(window.not_before)?, time(window.not_after)?);
    let spki = subject_key.public_spki()?;
    let builder = CertificateBuilder::new(profile, serial, validity, spki).map_err(err)?;
    match signer_key {
        PrivateKey::Ecdsa(k) => {
            let signing = p256::ecdsa::SigningKey::from(k);
            builder.build::<_, p256::ecdsa::DerSignature>(&signing).map_err(err)
        }
        PrivateKey::Rsa(k) => {
            let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.as_ref().clone());
            builder.build::<_, rsa::pkcs1v15::Signature>(&signing).map_err(err)
        }
    }
}

pub fn to_pem(cert: &Certificate) -> Result<String, PkiError> {
    cert.to_pem(der::pem::LineEnding::LF).map_err(err)
}

/// Reads every certificate of a PEM bundle, in order.
pub fn from_pem_chain(pem: &str) -> Result<Vec<Certificate>, PkiError> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let end_marker = "-----END CERTIFICATE-----";
        let end = rest[start..]
            .find(end_marker)
            .ok_or_else(|| PkiError::Pem("a certificate block has no END line".into()))?;
        let block = &rest[start..start + end + end_marker.len()];
        use der::DecodePem;
        out.push(
            Certificate::from_pem(block.as_bytes()).map_err(|e| PkiError::crypto("cannot read a certificate", e))?,
        );
        rest = &rest[start + end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err(PkiError::Pem(
            "no certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    Ok(out)
}

pub fn from_pem(pem: &str) -> Result<Certificate, PkiError> {
    Ok(from_pem_chain(pem)?.remove(0))
}

/// `sha256:` + hex SHA-256 of the certificate's DER SubjectPublicKeyInfo:
/// kubeadm's discovery token CA cert hash.
pub fn spki_sha256(cert: &Certificate) -> Result<String, PkiError> {
    let der = cert.tbs_certificate().subject_public_key_info().to_der().map_err(err)?;
    Ok(crate::digest::Digest::of(&der).to_string())
}

/// Hex SHA-256 of the certificate's DER (its fingerprint).
pub fn fingerprint(cert: &Certificate) -> Result<String, PkiError> {
    let der = cert.to_der().map_err(err)?;
    let hex = hex::encode_upper(Sha256::digest(der));
    Ok(hex
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(":"))
}

pub fn not_after(cert: &Certificate) -> u64 {
    cert.tbs_certificate().validity().not_after.to_unix_duration().as_secs()
}

pub fn not_before(cert: &Certificate) -> u64 {
    cert.tbs_certificate()
        .validity()
        .not_before
        .to_unix_duration()
        .as_secs()
}

/// The subject as text ([`super::names::name_string`]).
pub fn subject(cert: &Certificate) -> String {
    super::names::name_string(cert.tbs_certificate().subject())
}

/// The issuer as text ([`super::names::name_string`]).
pub fn issuer(cert: &Certificate) -> String {
    super::names::name_string(cert.tbs_certificate().issuer())
}

/// Whether `key` is the private key of `cert`.
pub fn key_matches(cert: &Certificate, key: &PrivateKey) -> Result<bool, PkiError> {
    let ours: SubjectPublicKeyInfoOwned = key.public_spki()?;
    let theirs = cert.tbs_certificate().subject_public_key_info();
    Ok(ours.to_der().map_err(err)? == theirs.to_der().map_err(err)?)
}

/// The DNS names of a certificate's subjectAltName.
pub fn dns_names(cert: &Certificate) -> Vec<String> {
    let Some(exts) = cert.tbs_certificate().extensions() else {
        return Vec::new();
    };
    exts.iter()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
        .filter_map(|e| SubjectAltName::from_der(e.extn_value.as_bytes()).ok())
        .flat_map(|san| san.0)
        .filter_map(|n| match n {
            GeneralName::DnsName(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// Whether the certificate is a CA (basicConstraints CA:TRUE).
pub fn is_ca(cert: &Certificate) -> bool {
    let Some(exts) = cert.tbs_certificate().extensions() else {
        return false;
    };
    exts.iter()
        .filter(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
        .filter_map(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .any(|bc| bc.ca)
}

/// Whether `host` is covered by a certificate name (with `*.` wildcards).
pub fn name_covers(name: &str, host: &str) -> bool {
    if name == host {
        return true;
    }
    match (name.strip_prefix("*."), host.split_once('.')) {
        (Some(suffix), Some((_, rest))) => rest == suffix,
        _ => false,
    }
}
