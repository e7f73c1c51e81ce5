//! Files made from the secrets: kubeadm's `/etc/kubernetes/pki` layout, the
//! Istio `cacerts` Secret, the ingress TLS Secret and the addons' credentials.

use serde_json::json;

use super::PkiError;
use super::secrets::SiteSecrets;
use crate::spec::Site;

/// `(path under /etc/kubernetes/pki, contents, is private)` for kubeadm.
pub fn kubeadm_pki(s: &SiteSecrets) -> Vec<(&'static str, String, bool)> {
    let k = &s.kubeadm;
    vec![
        ("ca.crt", k.ca.cert.clone(), false),
        ("ca.key", k.ca.key.clone(), true),
        ("front-proxy-ca.crt", k.front_proxy_ca.cert.clone(), false),
        ("front-proxy-ca.key", k.front_proxy_ca.key.clone(), true),
        ("etcd/ca.crt", k.etcd_ca.cert.clone(), false),
        ("etcd/ca.key", k.etcd_ca.key.clone(), true),
        ("sa.key", k.service_account.private_key.clone(), true),
        ("sa.pub", k.service_account.public_key.clone(), false),
    ]
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The `cacerts` Secret istiod reads its plug-in CA from.
pub fn cacerts_secret(site: &Site, s: &SiteSecrets) -> Result<serde_json::Value, PkiError> {
    let cluster = site.istio_cluster_name();
    let i = s
        .intermediate(&cluster)
        .ok_or_else(|| PkiError::Mismatch(format!("no Istio intermediate CA for cluster `{cluster}`")))?;
    let chain = format!("{}{}", i.cert, s.istio.root.cert);
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cacerts", "namespace": "istio-system", "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "type": "Opaque",
        "data": {
            "ca-cert.pem": b64(&i.cert),
            "ca-key.pem": b64(&i.key),
            "cert-chain.pem": b64(&chain),
            "root-cert.pem": b64(&s.istio.root.cert),
        }
    }))
}

/// The TLS Secret the ingress Gateway's `credentialName` names.
pub fn ingress_secret(site: &Site, s: &SiteSecrets) -> Option<serde_json::Value> {
    let g = &site.spec.istio.ingress_gateway;
    // No gateway, no namespace for it: the Secret would not apply.
    if !g.enabled {
        return None;
    }
    let tls = g.tls.as_ref()?;
    let i = s.ingress.as_ref()?;
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": tls.credential_name, "namespace": g.namespace, "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(&i.cert), "tls.key": b64(&i.key)}
    }))
}

/// The Secret that holds the addons' credentials, and its keys.
pub const ADDON_SECRET: &str = "meshbundle-addon-credentials";
pub const GRAFANA_USER_KEY: &str = "grafana-admin-user";
pub const GRAFANA_PASSWORD_KEY: &str = "grafana-admin-password";
pub const KIALI_SIGNING_KEY: &str = "kiali-signing-key";

/// The Secret in `istio-system` that Grafana (admin user and password, by
/// `secretKeyRef`) and Kiali (session signing key, mounted) read. `None`
/// when no addon needs it or the secrets have no addon credentials.
pub fn addon_secret(site: &Site, s: &SiteSecrets) -> Option<serde_json::Value> {
    if !super::secrets::needs_addon_secrets(site) {
        return None;
    }
    let a = s.addons.as_ref()?;
    Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": ADDON_SECRET, "namespace": "istio-system", "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "type": "Opaque",
        "data": {
            GRAFANA_USER_KEY: b64(&a.grafana.admin_user),
            GRAFANA_PASSWORD_KEY: b64(&a.grafana.admin_password),
            KIALI_SIGNING_KEY: b64(&a.kiali.signing_key),
        }
    }))
}
