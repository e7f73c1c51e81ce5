//! WebAssembly bindings of meshbundle-core for the browser configurator.
//! No logic of its own: each function calls the core and hands the result to
//! JavaScript as a plain structured value. Errors are values too
//! (`{ok: false, error}`), never exceptions from a panic.

use std::collections::BTreeMap;

use meshbundle_core::diag::Diagnostic;
use meshbundle_core::render::{Copies, Inputs, Memo, render_valid};
use meshbundle_core::spec::load::load;
use meshbundle_core::tree::FileTree;
use serde::Serialize;
use wasm_bindgen::prelude::*;

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

/// The example specs `meshbundle init` writes: `[{name, description, text}]`.
#[wasm_bindgen]
pub fn examples() -> JsValue {
    let list: Vec<Example> = meshbundle_core::examples::EXAMPLES
        .iter()
        .map(|(name, description, text)| Example {
            name,
            description,
            text,
        })
        .collect();
    to_js(&list)
}

#[derive(Serialize)]
struct Validation {
    ok: bool,
    valid: bool,
    diagnostics: Vec<Diagnostic>,
    /// The spec as read (with defaults filled in), when it could be read.
    spec: Option<serde_json::Value>,
    /// When valid: the `copy` paths of the upstream manifests its render
    /// reads, which the page loads and gives the [`Renderer`] first.
    upstream: Vec<&'static str>,
}

/// Validates spec text: `{ok, valid, diagnostics, spec, upstream}`, each
/// diagnostic with its field path, line and column.
#[wasm_bindgen]
pub fn validate(text: &str) -> JsValue {
    let loaded = load(text);
    let valid = !loaded.has_errors();
    let spec = loaded.site.as_ref().and_then(|s| serde_json::to_value(s).ok());
    let upstream = match &loaded.site {
        Some(site) if valid => upstream::needed_copies(site),
        _ => Vec::new(),
    };
    let diagnostics = loaded.diagnostics.clone();
    JUST_VALIDATED.set(loaded.into_validated().ok().map(|v| (text.to_string(), v)));
    to_js(&Validation {
        ok: true,
        valid,
        diagnostics,
        spec,
        upstream,
    })
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
/// path, hint}` with the text left as it was.
#[wasm_bindgen]
pub fn edit_yaml(text: &str, path: &str, op_json: &str) -> JsValue {
    use meshbundle_core::spec::edit::{EditOp, edit};
    let op: EditOp = match serde_json::from_str(op_json) {
        Ok(op) => op,
        Err(e) => {
            return to_js(
                &serde_json::json!({"ok": false, "error": format!("{path}: not an edit ({e}): give {{\"set\": value}}, {{\"insert\": value}} or \"remove\""), "path": path, "hint": ""}),
            );
        }
    };
    match edit(text, path, &op) {
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
    /// The content when it is text (every rendered file is).
    text: Option<String>,
}

#[derive(Serialize)]
struct Rendered {
    ok: bool,
    /// The tree digest `meshbundle render` prints for the same inputs.
    digest: String,
    files: Vec<RenderedFile>,
    total_bytes: u64,
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
    let secrets = match secrets.filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(t) => Some(
            meshbundle_core::pki::parse_secrets(&t)
                .map_err(|e| fail(format!("secrets: {}", meshbundle_core::error_text(&e)), vec![]))?,
        ),
    };
    let lock = match lock.filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(t) => Some(
            meshbundle_core::lock::parse(&t)
                .map_err(|e| fail(format!("lock: {}", meshbundle_core::error_text(&e)), vec![]))?,
        ),
    };
    Ok((site, secrets, lock))
}

fn upstream_texts(upstream: JsValue) -> Result<BTreeMap<String, Vec<u8>>, JsValue> {
    let texts: BTreeMap<String, String> =
        serde_wasm_bindgen::from_value(upstream).map_err(|e| fail(format!("upstream manifests: {e}"), vec![]))?;
    Ok(texts.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
}

/// Renders site specs with the upstream manifests it is given (objects of
/// `copy path -> text`, from `web/dist/upstream/*.js`), which this build
/// does not carry. The page gives only those a spec needs (`upstream` of
/// [`validate`]); render checks each against the
/// catalog's (or the lock's) sha256 as the CLI does.
#[wasm_bindgen]
pub struct Renderer {
    copies: Copies,
    /// Kept from one render to the next (see [`Memo`]).
    memo: Memo,
}

#[wasm_bindgen]
impl Renderer {
    #[wasm_bindgen(constructor)]
    pub fn new(upstream: JsValue) -> Result<Renderer, JsValue> {
        Ok(Renderer {
            copies: upstream_texts(upstream)?.into_iter().collect(),
            memo: Memo::new(),
        })
    }

    /// Adds upstream manifests (`{copy path: text}`) to those given before.
    pub fn add_upstream(&mut self, upstream: JsValue) -> Result<(), JsValue> {
        self.copies.extend(upstream_texts(upstream)?);
        Ok(())
    }

    /// Adds one upstream manifest, as its bytes (a `Uint8Array`: copied in
    /// at once, where a string is encoded character by character).
    pub fn add_copy(&mut self, path: String, bytes: Vec<u8>) {
        self.copies.insert(path, bytes);
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

    /// Renders every file: `{ok, digest, files: [{path, mode, size, text}], total_bytes}`.
    pub fn render(&self, spec: &str, secrets: Option<String>, lock: Option<String>) -> JsValue {
        match self.tree(spec, secrets, lock) {
            Ok((_, tree)) => to_js(&Rendered {
                ok: true,
                digest: self.memo.digest(&tree),
                total_bytes: tree.total_bytes(),
                files: tree
                    .iter()
                    .map(|(p, f)| RenderedFile {
                        path: p.to_string(),
                        mode: f.mode,
                        size: f.bytes.len(),
                        text: String::from_utf8(f.bytes.clone()).ok(),
                    })
                    .collect(),
            }),
            Err(e) => e,
        }
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
