//! Site PKI generation, run inside WebAssembly (wasm-bindgen-test-runner),
//! with ECDSA and RSA keys: the browser target builds and runs the same
//! crypto as the CLI.
//!
//!   CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
//!     cargo test -p meshbundle-wasm --target wasm32-unknown-unknown

use meshbundle_core::pki::{self, secrets::GenerateOptions};
use meshbundle_core::spec::KeyType;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use wasm_bindgen_test::wasm_bindgen_test;

const NOW: u64 = 1_790_000_000;

fn generate(key_type: KeyType, seed: u64) -> pki::SiteSecrets {
    let mut site = meshbundle_core::spec::load::load(meshbundle_core::examples::example("production").unwrap())
        .site
        .unwrap();
    site.spec.pki.key_type = key_type;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let s = pki::generate(
        &site,
        &GenerateOptions {
            now: NOW,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    assert!(s.check(&site, NOW).is_empty(), "{:?}", s.check(&site, NOW));
    assert!(s.discovery_hash().unwrap().starts_with("sha256:"));
    s
}

#[wasm_bindgen_test]
fn ecdsa_site_pki_in_wasm() {
    let a = generate(KeyType::EcdsaP256, 1);
    let b = generate(KeyType::EcdsaP256, 1);
    // Same random source and time: the same secrets, byte for byte.
    assert_eq!(pki::write_secrets(&a).unwrap(), pki::write_secrets(&b).unwrap());
}

#[wasm_bindgen_test]
fn rsa_site_pki_in_wasm() {
    let s = generate(KeyType::Rsa2048, 2);
    assert!(s.kubeadm.ca.key.contains("BEGIN PRIVATE KEY"));
    assert_eq!(s.summary().unwrap().certificates[0].key_type, "RSA 2048");
}
