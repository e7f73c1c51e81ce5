//! Rendering: a valid site spec (plus, when they exist, the lock, the site
//! secrets and the upstream manifests) in; the sorted tree of every file the
//! install needs out. Pure and deterministic: the same inputs give the same
//! bytes, here and in the browser.

mod addons;
mod alertmanager;
pub(crate) mod blackbox;
mod canary;
mod cni;
mod install;
pub(crate) mod istio;
mod kubeadm;
mod metallb;
mod metrics_server;
mod network_policy;
mod node;
mod observability;
mod ops;
mod security;
pub(crate) mod shell;
pub(crate) mod time;
mod traffic;
mod upgrade_kubernetes;
mod upgrade_notes;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalog::{self, Catalog, IstioRelease, KubernetesRelease};
use crate::diag::Diagnostic;
use crate::image::ImageRef;
use crate::lock::Lock;
use crate::pki::{PkiError, SiteSecrets};
use crate::spec::{KubeadmApi, Site, Validated};
use crate::tree::{FileTree, MODE_FILE};
use crate::upgrade_from::UpgradeFrom;

/// What rendering takes besides the spec.
#[derive(Default, Clone, Copy)]
pub struct Inputs<'a> {
    /// Pins images to digests and files to sha256s.
    pub lock: Option<&'a Lock>,
    /// Certificates, keys and tokens. Without them, the files that need them
    /// are left out and the README says so. With them, every file that holds
    /// a private key, the join token or the certificate key is `MODE_SECRET`.
    pub secrets: Option<&'a SiteSecrets>,
    /// Upstream manifests by name (`manifest/flannel`, `manifest/addon-grafana`)
    /// when they come from the lock; the copies in the catalog otherwise.
    pub upstream: Option<&'a BTreeMap<String, Vec<u8>>>,
    /// The catalog's copies by `copy` path, for a build that does not embed
    /// them (the browser's).
    pub copies: Option<&'a BTreeMap<String, Vec<u8>>>,
    /// For an upgrade bundle (`build --since`): the bundle and versions the
    /// site runs now. `ops/UPGRADE.md` and the upgrade scripts start from it.
    pub upgrade_from: Option<&'a UpgradeFrom>,
    /// The spec's file name as the caller read it (`site.yaml`), which the
    /// README and every file's header tell the operator to change;
    /// `meshbundle.yaml` when `None` (stdin, the browser's download name).
    pub spec_file: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the spec has {} error(s); run `meshbundle validate` to see them", .0.len())]
    Invalid(Vec<Diagnostic>),
    #[error("upstream file {name}: {reason}")]
    Upstream { name: String, reason: String },
    /// Part of an upstream file that does not read: the parser's error kept whole.
    #[error("upstream file {name}: {what}")]
    UpstreamUnreadable {
        name: String,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the lock does not cover what the spec needs: {}; run `meshbundle lock` on the spec again (it keeps every pin it can)",
        .0.join(", ")
    )]
    LockIncomplete(Vec<String>),
    #[error("the site secrets do not fit this spec: {0}")]
    Secrets(String),
    #[error("{0}")]
    Pki(#[from] PkiError),
    #[error("internal: {0}")]
    Internal(String),
    /// A file meshbundle writes that could not be encoded: a bug.
    #[error("internal: cannot write {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RenderError {
    /// A file meshbundle writes (`what`: YAML, TOML, JSON) that could not be encoded.
    pub(crate) fn encode(what: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        RenderError::Encode {
            what,
            source: source.into(),
        }
    }
}

impl From<crate::yaml::YamlError> for RenderError {
    fn from(e: crate::yaml::YamlError) -> Self {
        RenderError::encode("YAML", e)
    }
}

/// Everything the renderers share: the site, the catalog entries for its
/// versions, and the optional inputs.
pub(crate) struct Ctx<'a> {
    pub site: &'a Site,
    pub cat: &'static Catalog,
    pub k8s: &'static KubernetesRelease,
    pub istio: &'static IstioRelease,
    pub api: KubeadmApi,
    pub revision: String,
    pub lock: Option<&'a Lock>,
    pub secrets: Option<&'a SiteSecrets>,
    pub upstream: Option<&'a BTreeMap<String, Vec<u8>>>,
    pub copies: Option<&'a BTreeMap<String, Vec<u8>>>,
    /// Where an upgrade bundle starts; `None` for a plain build.
    pub upgrade_from: Option<&'a UpgradeFrom>,
    pub spec_file: Option<&'a str>,
}

impl<'a> Ctx<'a> {
    /// The spec's file name for generated text: a shell word (quoted when it
    /// has more than safe characters) on one line, so it can be pasted into
    /// a command and cannot end a comment.
    pub fn spec_file(&self) -> String {
        shell::comment(&shell::quote(self.spec_file.unwrap_or("meshbundle.yaml")))
    }

    /// The reference the cluster uses for an upstream image: the same
    /// repository in the site registry, pinned to its digest when locked.
    pub fn image(&self, upstream: &str) -> String {
        let Ok(r) = ImageRef::parse(upstream) else {
            return upstream.to_string();
        };
        let site = r.in_registry(&self.site.spec.registry);
        match self.lock.and_then(|l| l.image(&r.without_digest())) {
            Some(locked) => site.with_digest(locked.site_digest()).to_string(),
            None => site.to_string(),
        }
    }

    /// The site registry prefix for kubeadm's `imageRepository`.
    pub fn registry(&self) -> &str {
        &self.site.spec.registry
    }

    pub fn name(&self) -> &str {
        &self.site.metadata.name
    }

    /// Istio 1.22 and later serve the `v1` APIs.
    pub fn istio_v1(&self) -> bool {
        semver::Version::parse(&self.site.spec.istio.version).is_ok_and(|v| (v.major, v.minor) >= (1, 22))
    }

    /// An upstream manifest: from the lock's files when given (checked against
    /// the lock's sha256), else the copy in the catalog (checked against the
    /// catalog's sha256).
    pub fn upstream(&self, name: &str, file: &catalog::UpstreamFile) -> Result<Vec<u8>, RenderError> {
        let (bytes, want) = match self.upstream.and_then(|u| u.get(name)) {
            Some(b) => {
                let want = self
                    .lock
                    .and_then(|l| l.file(name))
                    .map(|f| f.sha256.clone())
                    .unwrap_or_else(|| file.sha256.clone());
                (b.clone(), want)
            }
            None => {
                let bytes = match (file.bytes(), self.copies.and_then(|c| c.get(&file.copy))) {
                    (b, _) if !b.is_empty() => b.to_vec(),
                    (_, Some(b)) => b.clone(),
                    _ => {
                        return Err(RenderError::Upstream {
                            name: name.to_string(),
                            reason: format!("not given: this build does not carry {}", file.copy),
                        });
                    }
                };
                (bytes, file.sha256.clone())
            }
        };
        let got = crate::digest::Digest::of(&bytes);
        if got != want {
            return Err(RenderError::Upstream {
                name: name.to_string(),
                reason: format!("sha256 is {}, the lock pins {}", got.hex(), want.hex()),
            });
        }
        Ok(bytes)
    }

    /// The sha256 the lock pins for a file, if locked.
    pub fn file_sha256(&self, name: &str) -> Option<&crate::digest::Digest> {
        self.lock.and_then(|l| l.file(name)).map(|f| &f.sha256)
    }

    /// Namespaces whose workloads join the mesh: the listed ones and the
    /// ingress routes' backends, sorted.
    pub fn mesh_namespaces(&self) -> Vec<String> {
        let istio = &self.site.spec.istio;
        let mut ns: Vec<String> = istio.namespaces.clone();
        if istio.ingress_gateway.enabled {
            ns.extend(istio.ingress_gateway.routes.iter().map(|r| r.namespace.clone()));
        }
        ns.sort();
        ns.dedup();
        ns
    }

    /// The header every generated file starts with, with a comment prefix.
    pub fn header(&self, prefix: &str) -> String {
        format!(
            "{prefix} Generated by meshbundle {} for site {}.\n{prefix} Do not edit: change {} and render again.\n",
            crate::VERSION,
            shell::comment(self.name()),
            self.spec_file()
        )
    }

    /// A YAML file of Kubernetes-style documents, with the header.
    pub fn yaml(&self, docs: &[Value]) -> Result<String, RenderError> {
        let mut out = self.header("#");
        for d in docs {
            out.push_str("---\n");
            out.push_str(&crate::yaml::to_string(d)?);
        }
        Ok(out)
    }
}

/// The Kubernetes object name a host's VirtualService or ServiceEntry gets
/// (`*.` becomes `wildcard.`, dots become dashes).
pub fn object_name_for_host(host: &str) -> String {
    traffic::host_name(host)
}

/// Whether the site runs the blackbox exporter that probes its certificates.
pub fn blackbox_on(site: &Site) -> bool {
    blackbox::on(site)
}

/// Validates a site, then renders it ([`render_valid`]): for callers that
/// hold a bare [`Site`] built in code. A spec read from text is validated
/// once by `load`; pass its [`Validated`] to [`render_valid`] instead.
pub fn render(site: &Site, inputs: &Inputs) -> Result<FileTree, RenderError> {
    let valid = Validated::check(site.clone()).map_err(RenderError::Invalid)?;
    render_valid(&valid, inputs)
}

/// Renders every file of the install for a validated site.
pub fn render_valid(valid: &Validated, inputs: &Inputs) -> Result<FileTree, RenderError> {
    let site = valid.site();
    if let Some(lock) = inputs.lock {
        // A partial lock would leave some references by tag only: the pin
        // would not be real, and nothing would say so.
        let lacks = lock.lacks(valid.needs());
        if !lacks.is_empty() {
            return Err(RenderError::LockIncomplete(lacks));
        }
    }
    let cat = catalog::catalog();
    let missing = |what: &str| RenderError::Internal(format!("{what} not in the catalog after validation"));
    let ctx = Ctx {
        site,
        cat,
        k8s: cat
            .kubernetes(&site.spec.kubernetes.version)
            .ok_or_else(|| missing("kubernetes"))?,
        istio: cat.istio(&site.spec.istio.version).ok_or_else(|| missing("istio"))?,
        api: crate::validate::kubeadm_api(site),
        revision: site.istio_revision(),
        lock: inputs.lock,
        secrets: inputs.secrets,
        upstream: inputs.upstream,
        copies: inputs.copies,
        upgrade_from: inputs.upgrade_from,
        spec_file: inputs.spec_file,
    };
    if let Some(s) = inputs.secrets {
        let problems: Vec<String> = s
            .check(site, s.created)
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect();
        if !problems.is_empty() {
            return Err(RenderError::Secrets(problems.join("; ")));
        }
    }

    let mut tree = FileTree::new();
    node::render(&ctx, &mut tree)?;
    time::render(&ctx, &mut tree)?;
    kubeadm::render(&ctx, &mut tree)?;
    cni::render(&ctx, &mut tree)?;
    metallb::render(&ctx, &mut tree)?;
    metrics_server::render(&ctx, &mut tree)?;
    istio::render(&ctx, &mut tree)?;
    security::render(&ctx, &mut tree)?;
    traffic::render(&ctx, &mut tree)?;
    observability::render(&ctx, &mut tree)?;
    blackbox::render(&ctx, &mut tree)?;
    alertmanager::render(&ctx, &mut tree)?;
    network_policy::render(&ctx, &mut tree)?;
    ops::render(&ctx, &mut tree)?;
    upgrade_kubernetes::render(&ctx, &mut tree)?;
    install::render(&ctx, &mut tree)?;
    upgrade_notes::render(&ctx, &mut tree)?;
    Ok(tree)
}

/// Adds a YAML file of documents.
pub(crate) fn add_yaml(ctx: &Ctx, tree: &mut FileTree, path: &str, docs: &[Value]) -> Result<(), RenderError> {
    tree.add(path, ctx.yaml(docs)?, MODE_FILE);
    Ok(())
}
