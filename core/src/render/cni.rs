//! The pod network: flannel's upstream manifest, pinned by sha256, with the
//! site's pod network and every image moved to the site registry. Every
//! other byte stays as upstream wrote it, so the diff against upstream is
//! short enough to review.

use super::{Ctx, RenderError};
use crate::image::rewrite_manifest_images;
use crate::spec::ProxyMode;
use crate::tree::{FileTree, MODE_FILE};

/// Replaces exactly one occurrence of `from`, or says the upstream file changed shape.
pub(crate) fn replace_once(text: &str, from: &str, to: &str, name: &str) -> Result<String, RenderError> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(RenderError::Upstream {
            name: name.to_string(),
            reason: format!("expected `{from}` once, found it {n} times; the upstream file changed shape"),
        }),
    }
}

pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let name = "manifest/flannel";
    let upstream = ctx.upstream(name, &ctx.cat.flannel.manifest)?;
    let text = String::from_utf8(upstream).map_err(|_| RenderError::Upstream { name: name.into(), reason: "not UTF-8 text".into() })?;
    let k = &ctx.site.spec.kubernetes;
    let text = replace_once(&text, "\"Network\": \"10.244.0.0/16\"", &format!("\"Network\": \"{}\"", k.pod_subnet), name)?;
    let nft = k.proxy_mode == ProxyMode::Nftables;
    let text = replace_once(&text, "\"EnableNFTables\": false", &format!("\"EnableNFTables\": {nft}"), name)?;
    let text = rewrite_manifest_images(&text, |r| ctx.image(r));
    let f = &ctx.cat.flannel.manifest;
    let out = format!(
        "{}# flannel {} ({}, sha256 {}),\n# with the pod network set to {} and images moved to {}.\n---\n{text}",
        ctx.header("#"),
        ctx.cat.flannel.version,
        f.url,
        f.sha256.hex(),
        k.pod_subnet,
        ctx.registry()
    );
    tree.add("manifests/cni/flannel.yaml", out, MODE_FILE);
    Ok(())
}
