//! WebAssembly bindings of meshbundle-core for the browser configurator.
//! No logic of its own: each function calls the core and hands the result to
//! JavaScript as a plain structured value. Errors are values too
//! (`{ok: false, error}`), never exceptions from a panic.

use meshbundle_core::diag::Diagnostic;
use meshbundle_core::render::{Copies, Inputs, Memo, render_valid};
use meshbundle_core::spec::load::load;
use meshbundle_core::tree::FileTree;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// The module's allocator: talc, made for WebAssembly. Against the default
/// (dlmalloc) the packed module is 2 KB smaller, and a first render (whose
/// code the browser runs before it has optimized any of it) runs fewer
/// instructions.
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub mod upstream;

fn to_js<T: Serialize>(v: &T) -> JsValue {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    v.serialize(&ser).unwrap_or(JsValue::NULL)
}

#[derive(Serialize)]
struct Failure {
    ok: bool,
    error: String,
    diagnostics: Vec<Diagnostic>,
}

fn fail(error: impl Into<String>, diagnostics: Vec<Diagnostic>) -> JsValue {
    to_js(&Failure {
        ok: false,
        error: error.into(),
        diagnostics,
    })
}

/// The meshbundle version (the same as `meshbundle --version`).
#[wasm_bindgen]
pub fn version() -> String {
    meshbundle_core::VERSION.to_string()
}

/// The JSON Schema of the site spec, as JSON text (`JSON.parse` reads it
/// faster than the module could build the object).
#[wasm_bindgen]
pub fn schema() -> String {
    meshbundle_core::schema::site_schema_json().to_string()
}

#[derive(Serialize)]
struct Example {
    name: &'static str,
    description: &'static str,
    text: &'static str,
}

/// The example specs `meshbundle init` writes, as JSON text:
/// `[{name, description, text}]` (`JSON.parse` reads it faster than the
/// module could build the objects).
#[wasm_bindgen]
pub fn examples_json() -> String {
    let list: Vec<Example> = meshbundle_core::examples::EXAMPLES
        .iter()
        .map(|(name, description, text)| Example {
            name,
            description,
            text,
        })
        .collect();
    serde_json::to_string(&list).expect("examples serialize")
}

/// The versions the catalog carries (those `meshbundle validate` knows), for
/// the form's version fields, as JSON text: `[kubernetes, containerd,
/// istio]`, each a list of versions.
#[wasm_bindgen]
pub fn versions_json() -> String {
    let catalog = meshbundle_core::catalog::catalog();
    let versions = [
        catalog.kubernetes_versions(),
        catalog.containerd_versions(),
        catalog.istio_versions(),
    ];
    serde_json::to_string(&versions).unwrap_or_default()
}

#[derive(Serialize)]
struct Validation<'a> {
    ok: bool,
    valid: bool,
    diagnostics: &'a [Diagnostic],
    /// The spec as read (with defaults filled in), when it could be read.
    spec: Option<&'a meshbundle_core::spec::Site>,
    /// When valid: the `copy` paths of the upstream manifests its render
    /// reads, which the page loads and gives the [`Renderer`] first.
    upstream: Vec<&'static str>,
    /// The values as written where the spec holds a default or stand-in
    /// instead (`{"spec.istio.istiod.replicas": "lots"}`): the form shows
    /// them at their fields, beside the problem.
    #[serde(rename = "asWritten")]
    as_written: serde_json::Map<String, serde_json::Value>,
}

/// Validates spec text: `{ok, valid, diagnostics, spec, upstream, asWritten}` as JSON
/// text (see [`examples_json`]), each diagnostic with its field path, line
/// and column.
#[wasm_bindgen]
pub fn validate_json(text: &str) -> String {
    let loaded = load(text);
    let valid = !loaded.has_errors();
    let upstream = match &loaded.site {
        Some(site) if valid => upstream::needed_copies(site),
        _ => Vec::new(),
    };
    let json = serde_json::to_string(&Validation {
        ok: true,
        valid,
        diagnostics: &loaded.diagnostics,
        spec: loaded.site.as_ref(),
        upstream,
        as_written: loaded.as_written.iter().cloned().collect(),
    })
    .expect("a validation serializes");
    JUST_VALIDATED.set(loaded.into_validated().ok().map(|v| (text.to_string(), v)));
    json
}

thread_local! {
    /// The spec [`validate`] read last, when it has no errors: the page
    /// renders the text it has just validated, and the next render of that
    /// same text takes it rather than reading and validating the text again.
    static JUST_VALIDATED: std::cell::RefCell<Option<(String, meshbundle_core::spec::Validated)>> =
        const { std::cell::RefCell::new(None) };
}

/// Writes a spec object (as the form holds it) as YAML, the way the CLI writes YAML.
#[wasm_bindgen]
pub fn spec_to_yaml(spec: JsValue) -> JsValue {
    let value: serde_json::Value = match serde_wasm_bindgen::from_value(spec) {
        Ok(v) => v,
        Err(e) => return fail(format!("not a spec object: {e}"), vec![]),
    };
    match meshbundle_core::spec::to_yaml(&value) {
        Ok(text) => to_js(&serde_json::json!({"ok": true, "yaml": text})),
        Err(e) => fail(e.to_string(), vec![]),
    }
}

/// Edits one field of spec text, keeping every other byte (comments, order,
/// quoting, defaults left out): `op_json` is `{"set": VALUE}`,
/// `{"insert": VALUE}` or `"remove"`; `path` a field path as diagnostics
/// give it. `{ok: true, yaml}` with the new text, or `{ok: false, error,
/// path, hint}` with the text left as it was. Removing a list's last item
/// also removes the mappings it leaves holding nothing, when the site reads
/// the same without them (`edit_spec`).
#[wasm_bindgen]
pub fn edit_yaml(text: &str, path: &str, op_json: &str) -> JsValue {
    use meshbundle_core::spec::edit::{EditOp, edit_spec};
    let op: EditOp = match serde_json::from_str(op_json) {
        Ok(op) => op,
        Err(e) => {
            return to_js(
                &serde_json::json!({"ok": false, "error": format!("{path}: not an edit ({e}): give {{\"set\": value}}, {{\"insert\": value}} or \"remove\""), "path": path, "hint": ""}),
            );
        }
    };
    match edit_spec(text, path, &op) {
        Ok(yaml) => to_js(&serde_json::json!({"ok": true, "yaml": yaml})),
        Err(e) => to_js(
            &serde_json::json!({"ok": false, "error": e.to_string(), "path": e.path, "message": e.message, "hint": e.hint}),
        ),
    }
}

#[derive(Serialize)]
struct RenderedFile {
    path: String,
    mode: u32,
    size: usize,
    /// The content when it is text (every rendered file is) and not `same`.
    text: Option<String>,
    /// The sha256 (hex) of a file that is not text: the caller has no bytes
    /// to hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// The same bytes as at the last render_files: neither text nor sha256
    /// is given again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    same: bool,
}

#[derive(Serialize)]
struct Rendered {
    ok: bool,
    files: Vec<RenderedFile>,
    total_bytes: u64,
}

/// The tree digest `meshbundle render` prints, from what it covers of each
/// file as [`Renderer::render_files`] gave them (in that order, which is path
/// order): paths, modes, sizes, and the sha256 of each file's bytes (32
/// bytes each, one after another, in `sha256s`).
#[wasm_bindgen]
pub fn tree_digest(paths: Vec<String>, modes: Vec<u32>, sizes: Vec<f64>, sha256s: Vec<u8>) -> Result<String, JsValue> {
    let n = paths.len();
    if modes.len() != n || sizes.len() != n || sha256s.len() != 32 * n {
        return Err(JsValue::from_str(
            "tree_digest: one path, mode, size and 32-byte sha256 per file",
        ));
    }
    if paths.windows(2).any(|w| w[0] >= w[1]) {
        return Err(JsValue::from_str("tree_digest: the paths are not in path order"));
    }
    let mut entries = Vec::with_capacity(n);
    for (i, path) in paths.iter().enumerate() {
        let size = sizes[i];
        if !(size >= 0.0 && size.fract() == 0.0 && size <= 9_007_199_254_740_991.0) {
            return Err(JsValue::from_str("tree_digest: a size is not a whole number of bytes"));
        }
        let mut sha = [0u8; 32];
        sha.copy_from_slice(&sha256s[32 * i..32 * (i + 1)]);
        entries.push((path.as_str(), modes[i], size as u64, sha));
    }
    Ok(meshbundle_core::tree::digest_of(entries))
}

fn inputs(
    spec: &str,
    secrets: Option<String>,
    lock: Option<String>,
) -> Result<
    (
        meshbundle_core::spec::Validated,
        Option<meshbundle_core::pki::SiteSecrets>,
        Option<meshbundle_core::lock::Lock>,
    ),
    JsValue,
> {
    // The same stages as the CLI: read and validate once, render the
    // validated site (the one validate() just read from this same text, if
    // any).
    let site = match JUST_VALIDATED.take() {
        Some((text, site)) if text == spec => site,
        _ => load(spec).into_validated().map_err(|loaded| {
            let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
            fail(format!("the spec has {errors} error(s)"), loaded.diagnostics)
        })?,
    };
    // An empty file given is a file given: refused as the CLI refuses it.
    let secrets = match secrets {
        None => None,
        Some(t) => Some(
            meshbundle_core::pki::parse_secrets(&t)
                .map_err(|e| fail(format!("secrets: {}", meshbundle_core::error_text(&e)), vec![]))?,
        ),
    };
    let lock = match lock {
        None => None,
        Some(t) => Some(
            meshbundle_core::lock::parse(&t)
                .map_err(|e| fail(format!("lock: {}", meshbundle_core::error_text(&e)), vec![]))?,
        ),
    };
    Ok((site, secrets, lock))
}

/// Renders site specs with the upstream manifests it is given
/// ([`Renderer::add_copy_hashed`], from `web/dist/upstream/*.js`), which this
/// build does not carry. The page gives only those a spec needs (`upstream`
/// of [`validate_json`]); render checks each against the catalog's (or the
/// lock's) sha256 as the CLI does.
#[wasm_bindgen]
#[derive(Default)]
pub struct Renderer {
    copies: Copies,
    /// Kept from one render to the next (see [`Memo`]).
    memo: Memo,
    /// The bytes of each file the last render_files gave, in path order.
    given: std::cell::RefCell<Vec<(String, Vec<u8>)>>,
}

#[wasm_bindgen]
impl Renderer {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Renderer {
        Renderer::default()
    }

    /// Adds one upstream manifest, as its bytes (a `Uint8Array`, copied in at
    /// once) and their sha256 (32 bytes) as the caller computed it: the
    /// render checks it against the catalog's.
    pub fn add_copy_hashed(&mut self, path: String, bytes: Vec<u8>, sha256: Vec<u8>) -> Result<(), JsValue> {
        let sha: [u8; 32] = sha256
            .as_slice()
            .try_into()
            .map_err(|_| JsValue::from_str("add_copy_hashed: a sha256 is 32 bytes"))?;
        self.copies.insert_hashed(path, bytes, &sha);
        Ok(())
    }

    fn tree(&self, spec: &str, secrets: Option<String>, lock: Option<String>) -> Result<(String, FileTree), JsValue> {
        let (site, secrets, lock) = inputs(spec, secrets, lock)?;
        let tree = render_valid(
            &site,
            &Inputs {
                secrets: secrets.as_ref(),
                lock: lock.as_ref(),
                upstream: None,
                copies: Some(&self.copies),
                upgrade_from: None,
                spec_file: Some("meshbundle.yaml"),
                memo: Some(&self.memo),
            },
        )
        .map_err(|e| fail(meshbundle_core::error_text(&e), vec![]))?;
        Ok((site.into_site().metadata.name, tree))
    }

    /// Renders every file, without the tree digest (see [`tree_digest`]):
    /// `{ok, files: [{path, mode, size, text, sha256?, same?}], total_bytes}`.
    /// A file with the same bytes as at the last call is marked `same` and
    /// given without its text: the caller keeps the last render's (the page
    /// renders again at every change, which changes a few files of many).
    /// After a failed call the caller may hold no render: [`Renderer::forget`].
    pub fn render_files(&self, spec: &str, secrets: Option<String>, lock: Option<String>) -> JsValue {
        match self.tree(spec, secrets, lock) {
            Ok((_, tree)) => {
                let total_bytes = tree.total_bytes();
                // Both in path order: one walk finds each file's bytes before.
                let mut before = self.given.take().into_iter().peekable();
                let mut now = Vec::with_capacity(tree.len());
                let files = tree
                    .into_files()
                    .map(|(path, f)| {
                        while before.next_if(|(p, _)| *p < path).is_some() {}
                        let same = before.next_if(|(p, _)| *p == path).is_some_and(|(_, b)| b == f.bytes);
                        let text = if same {
                            None
                        } else {
                            std::str::from_utf8(&f.bytes).ok().map(str::to_string)
                        };
                        let file = RenderedFile {
                            path: path.clone(),
                            mode: f.mode,
                            size: f.bytes.len(),
                            sha256: (!same && text.is_none())
                                .then(|| meshbundle_core::digest::Digest::of(&f.bytes).hex().to_string()),
                            text,
                            same,
                        };
                        now.push((path, f.bytes));
                        file
                    })
                    .collect();
                self.given.replace(now);
                to_js(&Rendered {
                    ok: true,
                    total_bytes,
                    files,
                })
            }
            Err(e) => e,
        }
    }

    /// Forgets the files the last render_files gave: the next gives each
    /// file's text (for a caller that did not keep them).
    pub fn forget(&self) {
        self.given.take();
    }

    /// The rendered tree as the `.tar.gz` `meshbundle render --tar` writes
    /// (a `Uint8Array`), or `{ok: false, error}`.
    pub fn render_tar_gz(&self, spec: &str, secrets: Option<String>, lock: Option<String>) -> JsValue {
        match self.tree(spec, secrets, lock) {
            Ok((name, tree)) => match meshbundle_core::archive::tar_gz(&tree, &name) {
                Ok(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).into(),
                Err(e) => fail(meshbundle_core::error_text(&e), vec![]),
            },
            Err(e) => e,
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// The form's version choices are the catalog's.
    #[test]
    fn versions_are_the_catalogs() {
        let v: Vec<Vec<String>> = serde_json::from_str(&versions_json()).unwrap();
        let catalog = meshbundle_core::catalog::catalog();
        assert_eq!(
            v,
            [
                catalog.kubernetes_versions(),
                catalog.containerd_versions(),
                catalog.istio_versions()
            ]
        );
        assert!(v.iter().all(|list| !list.is_empty()));
    }

    /// The catalog's upstream copies, as the page loads them
    /// (`upstream/...` under `images/`).
    fn copies() -> Copies {
        let images = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../images"));
        let mut dirs = vec![images.join("upstream")];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let copy = path.strip_prefix(images).unwrap().to_str().unwrap().replace('\\', "/");
                    files.push((copy, std::fs::read(&path).unwrap()));
                }
            }
        }
        files.into_iter().collect()
    }

    /// A lock that pins everything `spec` needs (made-up image digests; the
    /// catalog's sha256 of each file).
    fn lock_for(spec: &str) -> String {
        let site = load(spec).site.unwrap();
        let needs = meshbundle_core::catalog::needs(&site).unwrap();
        let mut text = String::from("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages:\n");
        for (i, img) in needs.images.iter().enumerate() {
            text.push_str(&format!(
                "- name: {}\n  digest: sha256:{:064x}\n",
                img.upstream.tagged(),
                i + 1
            ));
        }
        text.push_str("files:\n");
        for (i, f) in needs.files.iter().enumerate() {
            let sha = f
                .sha256
                .as_ref()
                .map(|d| d.hex().to_string())
                .unwrap_or_else(|| format!("{:064x}", 100 + i));
            text.push_str(&format!(
                "- name: {}\n  url: \"{}\"\n  sha256: \"{sha}\"\n  size: 1\n",
                f.name, f.url
            ));
        }
        text
    }

    /// The specs a user goes through: the production example and edits of
    /// it, each by name.
    fn edits() -> Vec<(&'static str, String)> {
        let production = meshbundle_core::examples::example("production").unwrap();
        let worker_3 = "    - name: worker-3\n      address: 10.0.0.23\n      role: worker\n      zone: zone-c\n";
        let hosts = "      hosts:\n        - shop.example.internal\n";
        let addons = "      grafana: true\n      jaeger: true\n      kiali: true\n";
        let alertmanager = "    alertmanager:\n      enabled: true\n";
        for part in [worker_3, hosts, addons, alertmanager] {
            assert!(production.contains(part), "{part}");
        }
        let observability_off = production.replace(
            addons,
            "      grafana: false\n      jaeger: false\n      kiali: false\n",
        );
        vec![
            ("the first", production.to_string()),
            (
                "node added",
                production.replace(
                    worker_3,
                    &format!("{worker_3}    - name: worker-4\n      address: 10.0.0.24\n      role: worker\n      zone: zone-a\n"),
                ),
            ),
            ("node removed", production.replace(worker_3, "")),
            (
                "gateway hosts changed",
                production.replace(hosts, &format!("{hosts}        - api.example.internal\n")),
            ),
            (
                "alertmanager off",
                observability_off.replace(alertmanager, "    alertmanager:\n      enabled: false\n"),
            ),
            ("observability off", observability_off),
        ]
    }

    /// Renders `steps` (spec, secrets, lock) in turn through one Renderer,
    /// which keeps its memo between them as the page's does, and checks each
    /// tree and digest against a fresh render without a memo (a render that
    /// fails fails the same way). The digests ("" for a failed render).
    fn through_one_renderer(steps: &[(&str, &str, Option<&str>, Option<&str>)]) -> Vec<String> {
        let copies = copies();
        let renderer = Renderer {
            copies: copies.clone(),
            memo: Memo::new(),
            given: Default::default(),
        };
        let mut digests = Vec::new();
        for (i, (name, spec, secrets, lock)) in steps.iter().enumerate() {
            let step = format!("step {i} ({name})");
            let site = load(spec)
                .into_validated()
                .unwrap_or_else(|l| panic!("{step}: {:?}", l.diagnostics));
            let secrets_read = secrets.map(|s| meshbundle_core::pki::parse_secrets(s).unwrap());
            let lock_read = lock.map(|l| meshbundle_core::lock::parse(l).unwrap());
            let inputs = |memo| Inputs {
                secrets: secrets_read.as_ref(),
                lock: lock_read.as_ref(),
                upstream: None,
                copies: Some(&copies),
                upgrade_from: None,
                spec_file: Some("meshbundle.yaml"),
                memo,
            };
            let fresh = match render_valid(&site, &inputs(None)) {
                Ok(tree) => tree,
                // Secrets that do not fit the spec: the page's render fails
                // the same way, and the memo goes on to the next.
                Err(e) => {
                    let with_memo = render_valid(&site, &inputs(Some(&renderer.memo)))
                        .map(|_| ())
                        .map_err(|e| meshbundle_core::error_text(&e));
                    assert_eq!(with_memo, Err(meshbundle_core::error_text(&e)), "{step}");
                    digests.push(String::new());
                    continue;
                }
            };
            let (_, kept) = renderer
                .tree(spec, secrets.map(str::to_string), lock.map(str::to_string))
                .unwrap_or_else(|_| panic!("{step}: the renderer failed"));
            for (path, file) in fresh.iter() {
                let Some(k) = kept.get(path) else {
                    panic!("{step}: {path} is missing with the memo")
                };
                assert!(
                    k.bytes == file.bytes && k.mode == file.mode,
                    "{step}: {path} differs with the memo"
                );
            }
            assert!(kept == fresh, "{step}: the memo's tree has other files");
            let digest = renderer.memo.digest(&kept);
            assert_eq!(digest, fresh.digest(), "{step}: digest");
            digests.push(digest);
        }
        digests
    }

    /// The digest from the files' sha256 as the page computes them
    /// ([`tree_digest`]) is the tree's, with secrets and a lock, and with
    /// copies added with their sha256 ([`Renderer::add_copy_hashed`]).
    #[test]
    fn tree_digest_from_the_files_sha256_is_the_trees() {
        let spec = meshbundle_core::examples::example("production").unwrap();
        let mut renderer = Renderer {
            copies: Copies::new(),
            memo: Memo::new(),
            given: Default::default(),
        };
        for (path, bytes) in copies().files() {
            let sha = meshbundle_core::digest::sha256(bytes);
            renderer
                .add_copy_hashed(path.to_string(), bytes.clone(), sha.to_vec())
                .unwrap();
        }
        let (_, tree) = renderer
            .tree(spec, Some(secrets()), Some(lock_for(spec)))
            .unwrap_or_else(|_| panic!("renders"));
        let paths: Vec<String> = tree.paths().map(str::to_string).collect();
        let modes: Vec<u32> = tree.iter().map(|(_, f)| f.mode).collect();
        let sizes: Vec<f64> = tree.iter().map(|(_, f)| f.bytes.len() as f64).collect();
        let shas: Vec<u8> = tree
            .iter()
            .flat_map(|(_, f)| meshbundle_core::digest::sha256(&f.bytes))
            .collect();
        assert!(paths.iter().any(|p| p.starts_with("secrets/")));
        assert_eq!(tree_digest(paths, modes, sizes, shas).unwrap(), tree.digest());
    }

    fn secrets() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/production.secrets.yaml"
        ))
        .unwrap()
    }

    /// The edits a user makes, in order, then back to the first spec: each
    /// tree is the one a render without the memo writes, each edit changes
    /// the digest, and the last is the first's.
    #[test]
    fn the_renderers_memo_changes_no_byte_across_edits() {
        let edits = edits();
        let spec = |name: &str| edits.iter().find(|(n, _)| *n == name).unwrap().1.as_str();
        let secrets = secrets();
        let lock = lock_for(spec("the first"));
        let steps = [
            ("the first", spec("the first"), None, None),
            ("node added", spec("node added"), None, None),
            ("node removed", spec("node removed"), None, None),
            ("gateway hosts changed", spec("gateway hosts changed"), None, None),
            ("observability off", spec("observability off"), None, None),
            ("alertmanager off", spec("alertmanager off"), None, None),
            ("observability back on", spec("the first"), None, None),
            ("secrets added", spec("the first"), Some(secrets.as_str()), None),
            ("lock added", spec("the first"), Some(&secrets), Some(lock.as_str())),
            (
                "node added with secrets and lock",
                spec("node added"),
                Some(&secrets),
                Some(&lock),
            ),
            ("secrets and lock removed", spec("the first"), None, None),
            ("back to the first", spec("the first"), None, None),
        ];
        let digests = through_one_renderer(&steps);
        for i in 1..steps.len() {
            let same = (steps[i].1, steps[i].2, steps[i].3) == (steps[i - 1].1, steps[i - 1].2, steps[i - 1].3);
            assert_eq!(
                digests[i] == digests[i - 1],
                same,
                "{}: digest vs the step before",
                steps[i].0
            );
        }
        assert_eq!(digests.first(), digests.last());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

        /// Any sequence of those edits, each with or without secrets and lock.
        #[test]
        fn any_sequence_of_edits_renders_the_same_bytes_with_the_memo(
            seq in proptest::collection::vec((0..6usize, proptest::bool::ANY, proptest::bool::ANY), 2..7),
        ) {
            let edits = edits();
            let secrets = secrets();
            let lock = lock_for(&edits[0].1);
            let steps: Vec<_> = seq
                .iter()
                .map(|&(e, s, l)| {
                    (
                        edits[e].0,
                        edits[e].1.as_str(),
                        s.then_some(secrets.as_str()),
                        l.then_some(lock.as_str()),
                    )
                })
                .collect();
            through_one_renderer(&steps);
        }
    }
}
