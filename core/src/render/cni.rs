//! The pod network: flannel's upstream manifest, pinned by sha256, with the
//! site's pod network, flanneld told to use the interface of the node's
//! address, and every image moved to the site registry. Every other byte
//! stays as upstream wrote it, so the diff against upstream is short enough
//! to review.

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
    // flanneld picks the interface of the default route unless told, and an
    // air-gapped or multi-homed node may have no default route, or one on
    // the wrong network. The node's spec address is the kubelet's node-ip,
    // so it is the node's InternalIP and the Pod's `status.hostIP`: flanneld
    // (v0.27.4, flannel-io/flannel 20bdda0b, main.go) reads every flag from
    // `FLANNELD_<FLAG>` when not given on the command line, and `--iface`
    // given an IP selects the interface holding that address
    // (pkg/ipmatch LookupExtIface). The container's first env entry is this.
    let text = replace_once(
        &text,
        "        env:\n        - name: POD_NAME\n",
        "        env:\n        - name: FLANNELD_IFACE\n          valueFrom:\n            fieldRef:\n              fieldPath: status.hostIP\n        - name: POD_NAME\n",
        name,
    )?;
    let text = rewrite_manifest_images(&text, |r| ctx.image(r));
    let f = &ctx.cat.flannel.manifest;
    let out = format!(
        "{}# flannel {} ({}, sha256 {}),\n# with the pod network set to {}, flanneld on the interface of the node's\n# address (FLANNELD_IFACE from status.hostIP) and images moved to {}.\n---\n{text}",
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
