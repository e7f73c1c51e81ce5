//! Registry credentials from the Docker or Podman auth file (`config.json`,
//! `auth.json`): `auths.<host>.auth` (base64 `user:password`) or
//! `username`/`password`. Credential helpers are not run: a registry that
//! needs one is reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Why the auth file cannot be used. What is wrong with a credential is
/// said without quoting any of it.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the auth file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an auth file")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: the auth of {host} is not {what}")]
    Auth {
        path: PathBuf,
        host: String,
        what: &'static str,
    },
}

#[derive(Default, Clone)]
pub struct Credentials {
    basic: BTreeMap<String, (String, String)>,
    helpers: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} registries)", self.basic.len())
    }
}

fn normalise(host: &str) -> String {
    let h = host.trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h);
    match h {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

/// Where Docker and Podman keep credentials, in the order they are tried.
pub fn default_paths() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        v.push(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        v.push(PathBuf::from(d).join("config.json"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        v.push(PathBuf::from(&h).join(".docker/config.json"));
        v.push(PathBuf::from(&h).join(".config/containers/auth.json"));
    }
    if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR") {
        v.push(PathBuf::from(r).join("containers/auth.json"));
    }
    v
}

impl Credentials {
    /// Reads `file`, or the first auth file that exists.
    pub fn load(file: Option<&Path>) -> Result<Credentials, CredentialsError> {
        let path = match file {
            Some(f) => Some(f.to_path_buf()),
            None => default_paths().into_iter().find(|p| p.exists()),
        };
        let Some(path) = path else {
            return Ok(Credentials::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| CredentialsError::Read {
            path: path.clone(),
            source,
        })?;
        let parsed: AuthFile = serde_json::from_str(&text).map_err(|source| CredentialsError::Parse {
            path: path.clone(),
            source,
        })?;
        let mut c = Credentials::default();
        for (host, entry) in parsed.auths {
            let pair = match (entry.auth, entry.username, entry.password) {
                (Some(a), _, _) if !a.is_empty() => {
                    let bad = |what| CredentialsError::Auth {
                        path: path.clone(),
                        host: host.clone(),
                        what,
                    };
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(a.trim())
                        .map_err(|_| bad("base64"))?;
                    let s = String::from_utf8(decoded).map_err(|_| bad("text"))?;
                    let (u, p) = s.split_once(':').ok_or_else(|| bad("user:password"))?;
                    Some((u.to_string(), p.to_string()))
                }
                (_, Some(u), Some(p)) => Some((u, p)),
                _ => None,
            };
            if let Some(pair) = pair {
                c.basic.insert(normalise(&host), pair);
            }
        }
        c.helpers = parsed.cred_helpers.keys().map(|h| normalise(h)).collect();
        if parsed.creds_store.is_some() {
            c.helpers.push("*".into());
        }
        Ok(c)
    }

    /// User and password for a registry host, if the auth file has them.
    pub fn basic(&self, host: &str) -> Option<&(String, String)> {
        self.basic.get(&normalise(host))
    }

    /// Whether the auth file sends this host to a credential helper.
    pub fn needs_helper(&self, host: &str) -> bool {
        let h = normalise(host);
        self.helpers.iter().any(|x| x == "*" || *x == h)
    }
}
