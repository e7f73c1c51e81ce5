//! The TLS crypto provider: rustls with `ring`, installed once for the
//! process before any HTTP client is built (reqwest and oci-client take the
//! process default). `ring` builds from a few C and assembly files; the
//! default aws-lc-rs needs CMake and a large C build, which dominated a cold
//! `cargo build`.

/// Installs the ring provider as the process default, once; a provider
/// installed before (by a program embedding this library) is kept.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Only fails when another thread installed one meanwhile: that one serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}
