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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

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
    pub copies: Option<&'a Copies>,
    /// For an upgrade bundle (`build --since`): the bundle and versions the
    /// site runs now. `ops/UPGRADE.md` and the upgrade scripts start from it.
    pub upgrade_from: Option<&'a UpgradeFrom>,
    /// The spec's file name as the caller read it (`site.yaml`), which the
    /// README and every file's header tell the operator to change;
    /// `meshbundle.yaml` when `None` (stdin, the browser's download name).
    pub spec_file: Option<&'a str>,
    /// What the caller keeps between renders when it renders again and
    /// again (the browser, at every change); the bytes are the same without.
    pub memo: Option<&'a Memo>,
}

/// What a caller that renders again and again keeps from one render to the
/// next: the documents read from each upstream manifest text, the YAML
/// written for each file of documents and each configuration document, and
/// the sha256 of each file. A render reads, writes and hashes only what is
/// not here, and writes the same bytes as a render without it: the same text
/// always reads as the same documents, and the same documents always write
/// as the same YAML.
#[derive(Default)]
pub struct Memo {
    /// Texts read; the latest last.
    read: RefCell<Vec<Read>>,
    /// Each file of documents (by path) and each configuration document (by
    /// name) written at the last render: the documents and their YAML
    /// (without a file's header).
    written: RefCell<BTreeMap<String, (Vec<Value>, String)>>,
    /// Each file of the last tree digested, by path.
    hashed: RefCell<BTreeMap<String, Hashed>>,
}

/// A text the memo read: whether as one document (else as a manifest of
/// many), and what it reads as.
struct Read {
    text: Rc<str>,
    one: bool,
    docs: Rc<Vec<Value>>,
}

/// A file the memo digested: its bytes and their sha256.
struct Hashed {
    bytes: Vec<u8>,
    sha: [u8; 32],
}

impl Memo {
    /// Texts kept: a spec renders a few upstream manifests (and an edit may
    /// change one: the image registry, the alert rules).
    const TEXTS: usize = 32;

    pub fn new() -> Memo {
        Memo::default()
    }

    fn read<E>(&self, text: &str, one: bool, read: impl FnOnce() -> Result<Vec<Value>, E>) -> Result<Vec<Value>, E> {
        let found = self
            .read
            .borrow()
            .iter()
            .find(|r| r.one == one && *r.text == *text)
            .map(|r| r.docs.clone());
        let docs = match found {
            Some(docs) => docs,
            None => {
                let docs = Rc::new(read()?);
                let mut kept = self.read.borrow_mut();
                if kept.len() >= Memo::TEXTS {
                    kept.remove(0);
                }
                kept.push(Read {
                    text: text.into(),
                    one,
                    docs: docs.clone(),
                });
                docs
            }
        };
        Ok(docs.as_ref().clone())
    }

    /// The tree's digest ([`FileTree::digest`]), hashing only the files whose
    /// bytes changed since the last tree digested here.
    pub fn digest(&self, tree: &FileTree) -> String {
        let mut before = self.hashed.take();
        let mut now = BTreeMap::new();
        let digest = tree.digest_with(|path, bytes| {
            let kept = match before.remove(path) {
                Some(h) if h.bytes == bytes => h,
                _ => Hashed {
                    bytes: bytes.to_vec(),
                    sha: crate::digest::sha256(bytes),
                },
            };
            let sha = kept.sha;
            now.insert(path.to_string(), kept);
            sha
        });
        *self.hashed.borrow_mut() = now;
        digest
    }

    /// The YAML of `docs` (each after `---`), written under `key` at the
    /// last render if they are the same documents, else written now.
    fn write(&self, key: &str, docs: &[Value]) -> Result<String, RenderError> {
        let mut written = self.written.borrow_mut();
        if let Some((before, yaml)) = written.get(key)
            && before.as_slice() == docs
        {
            return Ok(yaml.clone());
        }
        let yaml = yaml_body(docs)?;
        written.insert(key.to_string(), (docs.to_vec(), yaml.clone()));
        Ok(yaml)
    }
}

/// Documents as YAML, each after `---`.
fn yaml_body(docs: &[Value]) -> Result<String, RenderError> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&crate::yaml::value_to_string(d)?);
    }
    Ok(out)
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

/// Upstream manifests by their catalog `copy` path, each with its sha256,
/// computed once when it is added: a caller that renders many times (the
/// browser, at every change) does not hash the same megabyte each time.
#[derive(Default, Clone)]
pub struct Copies {
    files: BTreeMap<String, (Vec<u8>, crate::digest::Digest)>,
}

impl Copies {
    pub fn new() -> Copies {
        Copies::default()
    }

    /// Adds (or replaces) the copy at `path`.
    pub fn insert(&mut self, path: String, bytes: Vec<u8>) {
        let digest = crate::digest::Digest::of(&bytes);
        self.files.insert(path, (bytes, digest));
    }

    /// [`Copies::insert`], with the sha256 of `bytes` as the caller computed
    /// it (the browser hashes with its own SHA-256, far quicker than this
    /// module's on a first run). The render compares it with the catalog's,
    /// as any other.
    pub fn insert_hashed(&mut self, path: String, bytes: Vec<u8>, sha256: &[u8; 32]) {
        self.files
            .insert(path, (bytes, crate::digest::Digest::from_raw(sha256)));
    }

    fn get(&self, path: &str) -> Option<&(Vec<u8>, crate::digest::Digest)> {
        self.files.get(path)
    }

    /// Each copy's path and bytes, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Vec<u8>)> {
        self.files.iter().map(|(p, (b, _))| (p.as_str(), b))
    }
}

impl Extend<(String, Vec<u8>)> for Copies {
    fn extend<I: IntoIterator<Item = (String, Vec<u8>)>>(&mut self, iter: I) {
        for (path, bytes) in iter {
            self.insert(path, bytes);
        }
    }
}

impl FromIterator<(String, Vec<u8>)> for Copies {
    fn from_iter<I: IntoIterator<Item = (String, Vec<u8>)>>(iter: I) -> Copies {
        let mut copies = Copies::new();
        copies.extend(iter);
        copies
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
    pub copies: Option<&'a Copies>,
    /// Where an upgrade bundle starts; `None` for a plain build.
    pub upgrade_from: Option<&'a UpgradeFrom>,
    pub spec_file: Option<&'a str>,
    /// The documents of each file of `manifests/observability/` rendered so
    /// far, by path: the network policies read them here rather than parsing
    /// the text just written (one render reads each YAML text once).
    pub observability_docs: RefCell<BTreeMap<String, Vec<Value>>>,
    pub memo: Option<&'a Memo>,
}

/// Where the observability manifests go; [`Ctx::observability_docs`] has
/// the documents of each.
pub(crate) const OBSERVABILITY_DIR: &str = "manifests/observability/";

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
        use crate::digest::Digest;
        let (bytes, got, want) = match self.upstream.and_then(|u| u.get(name)) {
            Some(b) => {
                let want = self
                    .lock
                    .and_then(|l| l.file(name))
                    .map(|f| f.sha256.clone())
                    .unwrap_or_else(|| file.sha256.clone());
                (b.clone(), Digest::of(b), want)
            }
            None => {
                let (bytes, got) = match (file.bytes(), self.copies.and_then(|c| c.get(&file.copy))) {
                    (b, _) if !b.is_empty() => (b.to_vec(), Digest::of(b)),
                    // Hashed when it was added.
                    (_, Some((b, digest))) => (b.clone(), digest.clone()),
                    _ => {
                        return Err(RenderError::Upstream {
                            name: name.to_string(),
                            reason: format!("not given: this build does not carry {}", file.copy),
                        });
                    }
                };
                (bytes, got, file.sha256.clone())
            }
        };
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

    /// Records the documents of an observability manifest written to `path`
    /// (see [`Ctx::observability_docs`]).
    pub fn keep_observability_docs(&self, path: &str, docs: &[Value]) {
        debug_assert!(path.starts_with(OBSERVABILITY_DIR), "{path}");
        self.observability_docs
            .borrow_mut()
            .insert(path.to_string(), docs.to_vec());
    }

    /// A YAML file of Kubernetes-style documents, with the header.
    pub fn yaml(&self, docs: &[Value]) -> Result<String, RenderError> {
        let mut out = self.header("#");
        out.push_str(&yaml_body(docs)?);
        Ok(out)
    }

    /// The documents of the file at `path`, each after `---`, as YAML:
    /// from the memo when the caller keeps one.
    pub fn documents_yaml(&self, path: &str, docs: &[Value]) -> Result<String, RenderError> {
        match self.memo {
            Some(memo) => memo.write(path, docs),
            None => yaml_body(docs),
        }
    }

    /// One configuration document as YAML ([`crate::yaml::value_to_string`]),
    /// from the memo (under `key`) when the caller keeps one.
    pub fn config_yaml(&self, key: &str, doc: Value) -> Result<String, RenderError> {
        match self.memo {
            Some(memo) => {
                let docs = [doc];
                let yaml = memo.write(key, &docs)?;
                Ok(yaml.strip_prefix("---\n").unwrap_or(&yaml).to_string())
            }
            None => Ok(crate::yaml::value_to_string(&doc)?),
        }
    }

    /// The documents of a multi-document manifest
    /// ([`addons::documents`]), from the memo when the caller keeps one.
    pub fn documents(&self, name: &str, text: &str) -> Result<Vec<Value>, RenderError> {
        match self.memo {
            Some(memo) => memo.read(text, false, || addons::documents(name, text)),
            None => addons::documents(name, text),
        }
    }

    /// One YAML document ([`crate::yaml::value_from_str`]), from the memo
    /// when the caller keeps one.
    pub fn value_from_str(&self, text: &str) -> Result<Value, crate::yaml::YamlError> {
        match self.memo {
            Some(memo) => Ok(memo
                .read(text, true, || crate::yaml::value_from_str(text).map(|v| vec![v]))?
                .pop()
                .unwrap_or_default()),
            None => crate::yaml::value_from_str(text),
        }
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
        observability_docs: RefCell::new(BTreeMap::new()),
        memo: inputs.memo,
    };
    if let Some(s) = inputs.secrets {
        let errors: Vec<_> = s.check(site, s.created).into_iter().filter(|d| d.is_error()).collect();
        // Secrets of another site: that is the problem, and what else does
        // not fit follows from it.
        let errors = match errors.iter().find(|d| d.path == "site") {
            Some(d) => vec![d.clone()],
            None => errors,
        };
        let problems: Vec<String> = errors.iter().map(|d| format!("{}: {}", d.path, d.message)).collect();
        if !problems.is_empty() {
            return Err(RenderError::Secrets(problems.join("; ")));
        }
    }

    let mut tree = FileTree::new();
    // Each renderer is a function of its own (`#[inline(never)]`): inlined
    // here they made one function of 56 KB, which the configurator's
    // browser compiled a second time, with its optimizing compiler, while
    // the first render ran.
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
    if path.starts_with(OBSERVABILITY_DIR) {
        ctx.keep_observability_docs(path, docs);
    }
    let mut text = ctx.header("#");
    text.push_str(&ctx.documents_yaml(path, docs)?);
    tree.add(path, text, MODE_FILE);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load::load;

    /// A memo kept across renders of changing specs writes the bytes a
    /// render without one writes, at each render.
    #[test]
    fn a_memo_changes_no_byte() {
        let production = crate::examples::example("production").unwrap();
        let lab = crate::examples::example("lab").unwrap();
        let specs = [
            production.to_string(),
            production.to_string(),
            production.replace("registry: 10.0.0.5:5000", "registry: 10.0.0.6:5000"),
            production.replace("p99LatencyMs: 500", "p99LatencyMs: 700"),
            production.replace("timezone: Etc/UTC", "timezone: Europe/Paris"),
            production.replace("cni: calico", "cni: flannel"),
            lab.to_string(),
            production.to_string(),
        ];
        let memo = Memo::new();
        for (i, text) in specs.iter().enumerate() {
            let site = load(text)
                .into_validated()
                .unwrap_or_else(|l| panic!("spec {i}: {:?}", l.diagnostics));
            let plain = render_valid(&site, &Inputs::default()).unwrap();
            let kept = render_valid(
                &site,
                &Inputs {
                    memo: Some(&memo),
                    ..Default::default()
                },
            )
            .unwrap();
            assert!(plain == kept, "spec {i}: the memo changed the files");
            assert_eq!(memo.digest(&kept), plain.digest(), "spec {i}");
        }
    }
}
