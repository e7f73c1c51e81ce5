//! The site secrets (`site.secrets.yaml`): every certificate, key and token a
//! site needs, made once and reused by every render and build so rebuilds are
//! reproducible. Generation takes the time and a random source from the
//! caller, so it runs the same in the CLI and in WebAssembly.

use std::collections::BTreeMap;

use rand_core::CryptoRng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use x509_cert::certificate::Certificate;

use super::PkiError;
use super::cert::{self, Usage, Window};
use super::key::PrivateKey;
use crate::diag::{self, Code, Diagnostic, Diagnostics};
use crate::spec::Site;

pub const SECRETS_KIND: &str = "SiteSecrets";

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteSecrets {
    #[schemars(extend("const" = crate::spec::API_VERSION))]
    pub api_version: String,
    #[schemars(extend("const" = SECRETS_KIND))]
    pub kind: String,
    /// The site (`metadata.name`) these belong to.
    pub site: String,
    /// When they were generated, Unix seconds.
    pub created: u64,
    pub kubeadm: KubeadmSecrets,
    pub istio: IstioSecrets,
    /// The ingress gateway's TLS certificate; absent when the gateway has no TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSecrets>,
    /// The Grafana and Kiali credentials. Absent in files written before
    /// meshbundle carried them: `meshbundle secrets rotate` adds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<AddonSecrets>,
    /// What Alertmanager's receivers log in with, written here by the site
    /// (meshbundle cannot make them): see [`AlertmanagerSecrets`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<AlertmanagerSecrets>,
}

impl std::fmt::Debug for SiteSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SiteSecrets({})", self.site)
    }
}

/// Why a token or certificate key is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the bootstrap token is not [a-z0-9]{{6}}.[a-z0-9]{{16}} (regenerate the secrets with `meshbundle secrets generate`)"
    )]
    Token,
    #[error(
        "the certificate key is not 64 lower-case hex digits (regenerate the secrets with `meshbundle secrets generate`)"
    )]
    CertificateKey,
    #[error("the user name is not 1 to 32 of [a-z0-9-], starting with a letter")]
    UserName,
    #[error(
        "the password or signing key is not 32 letters and digits (remove the `addons` block and run `meshbundle secrets rotate` to make new ones)"
    )]
    Password,
    #[error("the credential is not 1 to 4096 printable ASCII characters without leading or trailing spaces")]
    ReceiverCredential,
}

/// Defines a string type that is checked when made or deserialized, and that
/// reads as a `&str` (it is only ever one of the checked forms).
macro_rules! checked_str {
    ($(#[$doc:meta])* $name:ident, $pattern:literal, $check:expr, $err:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<$name, CredentialError> {
                let check: fn(&str) -> bool = $check;
                if check(s) { Ok($name(s.to_string())) } else { Err($err) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Never the value: these are secrets.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(…)"))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        /// The same rule as `parse`, as a pattern (a test checks the two agree).
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "pattern": $pattern })
            }
        }
    };
}

checked_str!(
    /// A kubeadm bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    BootstrapToken,
    "^[a-z0-9]{6}\\.[a-z0-9]{16}$",
    |t| {
        let b = t.as_bytes();
        b.len() == 23 && b[6] == b'.' && b.iter().enumerate().all(|(i, c)| i == 6 || c.is_ascii_lowercase() || c.is_ascii_digit())
    },
    CredentialError::Token
);

checked_str!(
    /// kubeadm's certificate key: 32 bytes as 64 lower-case hex digits.
    CertificateKey,
    "^[0-9a-f]{64}$",
    |k| crate::digest::Digest::from_hex(k).is_ok(),
    CredentialError::CertificateKey
);

checked_str!(
    /// A login name for an addon: 1 to 32 of `[a-z0-9-]`, starting with a letter.
    UserName,
    "^[a-z][a-z0-9-]{0,31}$",
    |u| {
        let b = u.as_bytes();
        (1..=32).contains(&b.len()) && b[0].is_ascii_lowercase() && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    },
    CredentialError::UserName
);

checked_str!(
    /// A generated password or session signing key: 32 ASCII letters and
    /// digits (about 190 bits; Kiali takes signing keys of 16, 24 or 32 bytes).
    Password,
    "^[A-Za-z0-9]{32}$",
    |p| p.len() == 32 && p.bytes().all(|c| c.is_ascii_alphanumeric()),
    CredentialError::Password
);

checked_str!(
    /// A credential a receiver of Alertmanager logs in with (an SMTP password,
    /// a bearer token): 1 to 4096 printable ASCII characters, no leading or
    /// trailing space (Alertmanager trims what it reads from a file).
    ReceiverCredential,
    "^[!-~](?:[ -~]{0,4094}[!-~])?$",
    |c| (1..=4096).contains(&c.len()) && c.bytes().all(|b| (0x20..0x7f).contains(&b)) && c.trim() == c,
    CredentialError::ReceiverCredential
);

/// Credentials of Alertmanager's receivers, from the site: the relay's
/// password for `spec.observability.alertmanager.receivers.email.authUsername`
/// and the token for `receivers.webhook.bearerToken`. They reach the cluster
/// as the Secret `secrets/alertmanager-credentials.yaml`, mounted as files.
#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<ReceiverCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_bearer_token: Option<ReceiverCredential>,
}

/// The credentials of the observability addons. They reach the cluster as
/// the Secret `secrets/addon-credentials.yaml`, never inside a manifest.
#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddonSecrets {
    pub grafana: GrafanaSecrets,
    pub kiali: KialiSecrets,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrafanaSecrets {
    /// Grafana's administrator (`GF_SECURITY_ADMIN_USER`).
    pub admin_user: UserName,
    /// Its password (`GF_SECURITY_ADMIN_PASSWORD`).
    pub admin_password: Password,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KialiSecrets {
    /// The key Kiali signs its login sessions with (`login_token.signing_key`).
    pub signing_key: Password,
}

fn random_alnum<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut b = [0u8; 1];
        rng.fill_bytes(&mut b);
        // Rejection sampling keeps the distribution uniform (248 = 4 * 62).
        if (b[0] as usize) < 248 {
            out.push(ALPHABET[b[0] as usize % 62] as char);
        }
    }
    out
}

/// New Grafana and Kiali credentials.
pub fn addon_secrets<R: CryptoRng + ?Sized>(rng: &mut R) -> AddonSecrets {
    AddonSecrets {
        grafana: GrafanaSecrets {
            admin_user: UserName("admin".into()),
            admin_password: Password(random_alnum(rng, 32)),
        },
        kiali: KialiSecrets {
            signing_key: Password(random_alnum(rng, 32)),
        },
    }
}

/// Whether the site runs an addon that needs the addon credentials.
pub fn needs_addon_secrets(site: &Site) -> bool {
    let a = &site.spec.observability.addons;
    a.grafana || a.kiali
}

/// A certificate and its private key, both PEM.
#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertKey {
    pub cert: String,
    pub key: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeadmSecrets {
    /// Bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`.
    pub token: BootstrapToken,
    /// Key that encrypts the control-plane certificates kubeadm uploads for
    /// joining control-plane nodes: 32 random bytes, hex.
    pub certificate_key: CertificateKey,
    /// Cluster CA (`/etc/kubernetes/pki/ca.crt`, `ca.key`).
    pub ca: CertKey,
    #[serde(rename = "frontProxyCA")]
    pub front_proxy_ca: CertKey,
    #[serde(rename = "etcdCA")]
    pub etcd_ca: CertKey,
    /// Service-account signing key pair (`sa.key`, `sa.pub`).
    pub service_account: KeyPair,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPair {
    pub private_key: String,
    pub public_key: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioSecrets {
    /// The mesh root CA, shared by every cluster of the mesh.
    pub root: CertKey,
    /// One intermediate CA per cluster, by cluster name.
    pub intermediates: BTreeMap<String, CertKey>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressSecrets {
    /// The CA that signed the certificate, when meshbundle made it. Absent
    /// when the user supplied the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertKey>,
    /// The certificate chain, leaf first.
    pub cert: String,
    pub key: String,
}

/// A certificate and key supplied by the user for the ingress gateway.
pub struct ProvidedTls<'a> {
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
}

fn random_chars<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut b = [0u8; 1];
        rng.fill_bytes(&mut b);
        // Rejection sampling keeps the distribution uniform.
        if (b[0] as usize) < 252 {
            out.push(ALPHABET[b[0] as usize % 36] as char);
        }
    }
    out
}

fn pair(c: &Certificate, k: &PrivateKey) -> Result<CertKey, PkiError> {
    Ok(CertKey {
        cert: cert::to_pem(c)?,
        key: k.to_pem()?,
    })
}

fn new_ca<R: CryptoRng + ?Sized>(
    site: &Site,
    subject: &str,
    issuer: Option<(&Certificate, &PrivateKey)>,
    path_len: Option<u8>,
    days: u32,
    now: u64,
    rng: &mut R,
) -> Result<(Certificate, PrivateKey), PkiError> {
    let key = PrivateKey::generate(site.spec.pki.key_type, rng)?;
    let c = cert::issue(
        subject,
        &key,
        issuer,
        Usage::Ca { path_len },
        Window::days(now, days),
        rng,
    )?;
    Ok((c, key))
}

fn istio_intermediate<R: CryptoRng + ?Sized>(
    site: &Site,
    root: &CertKey,
    now: u64,
    rng: &mut R,
) -> Result<CertKey, PkiError> {
    let root_cert = cert::from_pem(&root.cert)?;
    let root_key = PrivateKey::from_pem(&root.key)?;
    let cluster = site.istio_cluster_name();
    let (c, k) = new_ca(
        site,
        &format!("CN=Intermediate CA,O=Istio,L={cluster}"),
        Some((&root_cert, &root_key)),
        Some(0),
        site.spec.pki.intermediate_validity_days,
        now,
        rng,
    )?;
    pair(&c, &k)
}

/// The DNS names the ingress certificate must cover.
pub fn ingress_hosts(site: &Site) -> Vec<String> {
    let g = &site.spec.istio.ingress_gateway;
    if g.enabled && g.tls.is_some() {
        g.hosts.clone()
    } else {
        Vec::new()
    }
}

fn ingress_leaf<R: CryptoRng + ?Sized>(
    site: &Site,
    ca: &CertKey,
    now: u64,
    rng: &mut R,
) -> Result<IngressSecrets, PkiError> {
    let ca_cert = cert::from_pem(&ca.cert)?;
    let ca_key = PrivateKey::from_pem(&ca.key)?;
    let hosts = ingress_hosts(site);
    let key = PrivateKey::generate(site.spec.pki.key_type, rng)?;
    let first = hosts.first().cloned().unwrap_or_else(|| site.metadata.name.clone());
    let leaf = cert::issue(
        &format!("CN={first},O={}", site.metadata.name),
        &key,
        Some((&ca_cert, &ca_key)),
        Usage::Server {
            dns: hosts,
            ips: Vec::new(),
        },
        Window::days(now, site.spec.pki.leaf_validity_days),
        rng,
    )?;
    Ok(IngressSecrets {
        ca: Some(ca.clone()),
        cert: format!("{}{}", cert::to_pem(&leaf)?, ca.cert),
        key: key.to_pem()?,
    })
}

/// Checks a user-supplied ingress certificate: key matches, hosts covered, in date.
pub fn check_provided_tls(site: &Site, tls: &ProvidedTls, now: u64) -> Result<IngressSecrets, PkiError> {
    let chain = cert::from_pem_chain(tls.cert_pem)?;
    let key = PrivateKey::from_pem(tls.key_pem)?;
    let leaf = &chain[0];
    if !cert::key_matches(leaf, &key)? {
        return Err(PkiError::Mismatch(
            "the ingress key does not belong to the ingress certificate".into(),
        ));
    }
    if cert::not_after(leaf) <= now {
        return Err(PkiError::Expired(format!(
            "the ingress certificate expired ({})",
            leaf.tbs_certificate().validity().not_after
        )));
    }
    if cert::not_before(leaf) > now {
        return Err(PkiError::Expired("the ingress certificate is not valid yet".into()));
    }
    let names = cert::dns_names(leaf);
    for host in ingress_hosts(site) {
        if !names.iter().any(|n| cert::name_covers(n, &host)) {
            return Err(PkiError::Mismatch(format!(
                "the ingress certificate does not cover `{host}` (it names {})",
                names.join(", ")
            )));
        }
    }
    Ok(IngressSecrets {
        ca: None,
        cert: tls.cert_pem.to_string(),
        key: tls.key_pem.to_string(),
    })
}

/// Everything needed to generate a site's secrets.
pub struct GenerateOptions<'a> {
    /// Unix seconds.
    pub now: u64,
    /// Reuse the Istio root CA of another cluster of the same mesh.
    pub mesh_root: Option<&'a CertKey>,
    /// Use this ingress certificate instead of generating one.
    pub provided_tls: Option<ProvidedTls<'a>>,
}

/// Generates a site's secrets.
pub fn generate<R: CryptoRng + ?Sized>(
    site: &Site,
    opts: &GenerateOptions,
    rng: &mut R,
) -> Result<SiteSecrets, PkiError> {
    let now = opts.now;
    let pki = &site.spec.pki;
    let (ca, ca_key) = new_ca(site, "CN=kubernetes", None, None, pki.root_validity_days, now, rng)?;
    let (fp, fp_key) = new_ca(site, "CN=front-proxy-ca", None, None, pki.root_validity_days, now, rng)?;
    let (etcd, etcd_key) = new_ca(site, "CN=etcd-ca", None, None, pki.root_validity_days, now, rng)?;
    let sa = PrivateKey::generate(pki.key_type, rng)?;
    let mut ck = [0u8; 32];
    rng.fill_bytes(&mut ck);
    let kubeadm = KubeadmSecrets {
        token: BootstrapToken(format!("{}.{}", random_chars(rng, 6), random_chars(rng, 16))),
        certificate_key: CertificateKey(hex::encode(ck)),
        ca: pair(&ca, &ca_key)?,
        front_proxy_ca: pair(&fp, &fp_key)?,
        etcd_ca: pair(&etcd, &etcd_key)?,
        service_account: KeyPair {
            private_key: sa.to_pem()?,
            public_key: sa.public_pem()?,
        },
    };

    let root = match opts.mesh_root {
        Some(r) => {
            let c = cert::from_pem(&r.cert)?;
            let k = PrivateKey::from_pem(&r.key)?;
            if !cert::key_matches(&c, &k)? {
                return Err(PkiError::Mismatch(
                    "the mesh root key does not belong to its certificate".into(),
                ));
            }
            r.clone()
        }
        None => {
            let (c, k) = new_ca(site, "CN=Root CA,O=Istio", None, None, pki.root_validity_days, now, rng)?;
            pair(&c, &k)?
        }
    };
    let mut intermediates = BTreeMap::new();
    intermediates.insert(site.istio_cluster_name(), istio_intermediate(site, &root, now, rng)?);

    let ingress = match (&opts.provided_tls, ingress_hosts(site).is_empty()) {
        (Some(p), _) => Some(check_provided_tls(site, p, now)?),
        (None, true) => None,
        (None, false) => {
            let (c, k) = new_ca(
                site,
                &format!("CN=Ingress CA,O={}", site.metadata.name),
                None,
                None,
                pki.root_validity_days,
                now,
                rng,
            )?;
            Some(ingress_leaf(site, &pair(&c, &k)?, now, rng)?)
        }
    };

    Ok(SiteSecrets {
        api_version: crate::spec::API_VERSION.into(),
        kind: SECRETS_KIND.into(),
        site: site.metadata.name.clone(),
        created: now,
        kubeadm,
        istio: IstioSecrets { root, intermediates },
        ingress,
        addons: Some(addon_secrets(rng)),
        alertmanager: None,
    })
}

/// Renews the Istio intermediate and the ingress leaf, keeping every root
/// (and so every trust relationship) as it is. Adds the addon credentials to
/// a file written before meshbundle carried them; existing ones are kept.
pub fn rotate<R: CryptoRng + ?Sized>(
    site: &Site,
    s: &SiteSecrets,
    now: u64,
    rng: &mut R,
) -> Result<SiteSecrets, PkiError> {
    let mut out = s.clone();
    if out.addons.is_none() {
        out.addons = Some(addon_secrets(rng));
    }
    out.istio.intermediates.insert(
        site.istio_cluster_name(),
        istio_intermediate(site, &s.istio.root, now, rng)?,
    );
    match (&s.ingress, ingress_hosts(site).is_empty()) {
        (Some(ingress), _) => match &ingress.ca {
            Some(ca) => out.ingress = Some(ingress_leaf(site, ca, now, rng)?),
            None => {
                return Err(PkiError::Mismatch(
                    "the ingress certificate was supplied by you; renew it with your CA and pass it with --ingress-cert".into(),
                ));
            }
        },
        // TLS hosts were added since the secrets were made: a CA and a certificate for them.
        (None, false) => {
            let pki = &site.spec.pki;
            let (c, k) = new_ca(
                site,
                &format!("CN=Ingress CA,O={}", site.metadata.name),
                None,
                None,
                pki.root_validity_days,
                now,
                rng,
            )?;
            out.ingress = Some(ingress_leaf(site, &pair(&c, &k)?, now, rng)?);
        }
        (None, true) => {}
    }
    Ok(out)
}

/// One certificate of the secrets, for `secrets show` and for alerts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertSummary {
    /// Where it is in the secrets, e.g. `kubeadm.ca`.
    pub name: String,
    pub subject: String,
    pub issuer: String,
    pub key_type: String,
    pub not_before: u64,
    pub not_after: u64,
    /// SHA-256 fingerprint, colon-separated hex.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretsSummary {
    pub site: String,
    pub created: u64,
    /// kubeadm's `--discovery-token-ca-cert-hash`.
    pub discovery_hash: String,
    pub certificates: Vec<CertSummary>,
}

impl SiteSecrets {
    /// The certificates and keys, by name, in a fixed order.
    pub fn pairs(&self) -> Vec<(String, &CertKey)> {
        let mut v = vec![
            ("kubeadm.ca".to_string(), &self.kubeadm.ca),
            ("kubeadm.frontProxyCA".to_string(), &self.kubeadm.front_proxy_ca),
            ("kubeadm.etcdCA".to_string(), &self.kubeadm.etcd_ca),
            ("istio.root".to_string(), &self.istio.root),
        ];
        for (c, p) in &self.istio.intermediates {
            v.push((format!("istio.intermediates.{c}"), p));
        }
        if let Some(i) = &self.ingress
            && let Some(ca) = &i.ca
        {
            v.push(("ingress.ca".to_string(), ca));
        }
        v
    }

    /// kubeadm's discovery hash: `sha256:` of the cluster CA's SubjectPublicKeyInfo.
    pub fn discovery_hash(&self) -> Result<String, PkiError> {
        cert::spki_sha256(&cert::from_pem(&self.kubeadm.ca.cert)?)
    }

    /// The Istio intermediate for a cluster.
    pub fn intermediate(&self, cluster: &str) -> Option<&CertKey> {
        self.istio.intermediates.get(cluster)
    }

    /// Subjects, fingerprints, expiry dates and the discovery hash; no key.
    pub fn summary(&self) -> Result<SecretsSummary, PkiError> {
        let mut certificates = Vec::new();
        let mut push = |name: String, pem: &str, key: Option<&str>| -> Result<(), PkiError> {
            let c = cert::from_pem(pem)?;
            let key_type = match key {
                Some(k) => PrivateKey::from_pem(k)?.kind().to_string(),
                None => String::new(),
            };
            certificates.push(CertSummary {
                name,
                subject: cert::subject(&c),
                issuer: cert::issuer(&c),
                key_type,
                not_before: cert::not_before(&c),
                not_after: cert::not_after(&c),
                fingerprint: cert::fingerprint(&c)?,
            });
            Ok(())
        };
        for (name, p) in self.pairs() {
            push(name, &p.cert, Some(&p.key))?;
        }
        if let Some(i) = &self.ingress {
            push("ingress.cert".into(), &i.cert, Some(&i.key))?;
        }
        Ok(SecretsSummary {
            site: self.site.clone(),
            created: self.created,
            discovery_hash: self.discovery_hash()?,
            certificates,
        })
    }

    /// Problems with the material itself, whatever the site: unreadable PEM,
    /// a key that does not match its certificate, an expired or not-a-CA CA,
    /// a malformed token or certificate key.
    pub fn check_material(&self, now: u64) -> Vec<Diagnostic> {
        let mut d = Diagnostics::default();
        if self.kind != SECRETS_KIND || self.api_version != crate::spec::API_VERSION {
            d.error(
                Code::Secrets,
                "kind",
                "this is not a meshbundle secrets file",
                "generate one with `meshbundle secrets generate`",
            );
        }
        // The token and certificate key are checked when read (their types).
        for (name, p) in self.pairs() {
            check_pair(&mut d, &field_path(&name), p, true, now);
        }
        match PrivateKey::from_pem(&self.kubeadm.service_account.private_key) {
            Err(e) => d.error(
                Code::Secrets,
                "kubeadm.serviceAccount.privateKey",
                crate::error_text(&e),
                "the PEM is damaged; restore the file from a backup",
            ),
            Ok(k) => {
                if k.public_pem().ok().as_deref().map(str::trim) != Some(self.kubeadm.service_account.public_key.trim())
                {
                    d.error(
                        Code::Secrets,
                        "kubeadm.serviceAccount.publicKey",
                        "the service-account public key does not match its private key",
                        "restore the file from a backup",
                    );
                }
            }
        }
        for (cluster, i) in &self.istio.intermediates {
            if let (Ok(ic), Ok(rc)) = (cert::from_pem(&i.cert), cert::from_pem(&self.istio.root.cert))
                && cert::issuer(&ic) != cert::subject(&rc)
            {
                d.error(
                    Code::Secrets,
                    diag::join("istio.intermediates", cluster),
                    "the intermediate was not issued by this root",
                    "run `meshbundle secrets rotate` to issue one from the root",
                );
            }
        }
        if let Some(i) = &self.ingress {
            let p = CertKey {
                cert: i.cert.clone(),
                key: i.key.clone(),
            };
            check_pair(&mut d, "ingress", &p, false, now);
        }
        d.0
    }

    /// Every problem with these secrets for this site: the material's own,
    /// plus secrets of another site, a missing intermediate for the cluster,
    /// an ingress certificate that misses a host.
    pub fn check(&self, site: &Site, now: u64) -> Vec<Diagnostic> {
        let mut d = Diagnostics(self.check_material(now));
        if self.site != site.metadata.name {
            d.error(
                Code::Secrets,
                "site",
                format!(
                    "these secrets belong to site `{}`, not `{}`",
                    self.site, site.metadata.name
                ),
                "use the secrets file generated for this site",
            );
        }
        let cluster = site.istio_cluster_name();
        if !self.istio.intermediates.contains_key(&cluster) {
            d.error(
                Code::Secrets,
                diag::join("istio.intermediates", &cluster),
                format!("there is no Istio intermediate CA for cluster `{cluster}`"),
                "run `meshbundle secrets rotate` to issue one",
            );
        }
        match (&self.ingress, ingress_hosts(site).is_empty()) {
            (None, false) => d.error(
                Code::Secrets,
                "ingress",
                "the ingress gateway has TLS hosts but the secrets have no certificate for them",
                "run `meshbundle secrets rotate` to issue one",
            ),
            (Some(i), _) => {
                if let Ok(c) = cert::from_pem(&i.cert) {
                    let names = cert::dns_names(&c);
                    for host in ingress_hosts(site) {
                        if !names.iter().any(|n| cert::name_covers(n, &host)) {
                            d.error(
                                Code::Secrets,
                                "ingress.cert",
                                format!("the ingress certificate does not cover `{host}`"),
                                "run `meshbundle secrets rotate` after changing the hosts",
                            );
                        }
                    }
                }
            }
            (None, true) => {}
        }
        let am = &site.spec.observability.alertmanager;
        if am.enabled {
            let have = self.alertmanager.clone().unwrap_or_default();
            if am.receivers.email.as_ref().is_some_and(|e| e.auth_username.is_some()) && have.smtp_password.is_none() {
                d.error(
                    Code::Secrets,
                    "alertmanager.smtpPassword",
                    "the SMTP relay needs a password (spec.observability.alertmanager.receivers.email.authUsername is set) and the secrets have none",
                    "add `alertmanager: {smtpPassword: ...}` to the secrets file (keep it 0600), or remove authUsername if the relay takes mail without a login",
                );
            }
            if am.receivers.webhook.as_ref().is_some_and(|w| w.bearer_token) && have.webhook_bearer_token.is_none() {
                d.error(
                    Code::Secrets,
                    "alertmanager.webhookBearerToken",
                    "the webhook needs a bearer token (spec.observability.alertmanager.receivers.webhook.bearerToken is true) and the secrets have none",
                    "add `alertmanager: {webhookBearerToken: ...}` to the secrets file (keep it 0600), or set bearerToken to false",
                );
            }
        }
        if self.addons.is_none() && needs_addon_secrets(site) {
            d.error(
                Code::Secrets,
                "addons",
                "the secrets have no Grafana and Kiali credentials (the file predates them)",
                "run `meshbundle secrets rotate` to add them; it keeps the roots and the join token",
            );
        }
        d.0
    }
}

/// The field path of a certificate and key named as [`SiteSecrets::pairs`]
/// names them: a cluster's name is a key of `istio.intermediates`, written
/// `["NAME"]` when it is not an identifier (`istio.intermediates["prod-site"]`).
fn field_path(name: &str) -> String {
    match name.strip_prefix("istio.intermediates.") {
        Some(cluster) => diag::join("istio.intermediates", cluster),
        None => name.to_string(),
    }
}

/// Checks one certificate and its key; `name` is their field path.
fn check_pair(d: &mut Diagnostics, name: &str, p: &CertKey, must_be_ca: bool, now: u64) {
    let c = match cert::from_pem(&p.cert) {
        Ok(c) => c,
        Err(e) => {
            d.error(
                Code::Secrets,
                format!("{name}.cert"),
                crate::error_text(&e),
                "the PEM is damaged; restore the file from a backup",
            );
            return;
        }
    };
    let k = match PrivateKey::from_pem(&p.key) {
        Ok(k) => k,
        Err(e) => {
            d.error(
                Code::Secrets,
                format!("{name}.key"),
                crate::error_text(&e),
                "the PEM is damaged; restore the file from a backup",
            );
            return;
        }
    };
    match cert::key_matches(&c, &k) {
        Ok(true) => {}
        _ => d.error(
            Code::Secrets,
            format!("{name}.key"),
            "the private key does not belong to the certificate",
            "put back the key generated with this certificate, or regenerate both",
        ),
    }
    if must_be_ca && !cert::is_ca(&c) {
        d.error(
            Code::Secrets,
            format!("{name}.cert"),
            "this certificate is not a CA",
            "regenerate it",
        );
    }
    if cert::not_after(&c) <= now {
        d.error(
            Code::Secrets,
            format!("{name}.cert"),
            format!(
                "`{}` expired on {}",
                cert::subject(&c),
                c.tbs_certificate().validity().not_after
            ),
            if name.starts_with("istio.intermediates") || name == "ingress" {
                "run `meshbundle secrets rotate`"
            } else {
                "a root CA cannot be renewed in place; generate new secrets and reinstall"
            },
        );
    }
}

/// Debug output of secrets never shows key material.
macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($t), "(<redacted>)"))
            }
        }
    )*};
}
redacted_debug!(
    CertKey,
    KeyPair,
    KubeadmSecrets,
    IstioSecrets,
    IngressSecrets,
    AddonSecrets,
    GrafanaSecrets,
    KialiSecrets,
    AlertmanagerSecrets
);
