//! Which files each node gets: the one place that decides what
//! `meshbundle import --extract DIR --node NAME` lays out, so the CA keys,
//! the Istio CA and every other node's join configuration stay off the
//! machines that do not need them.
//!
//! What a node needs is what its scripts read:
//!
//! - every node: `install.sh` (`install.sh node`), `README.md`, `common/`
//!   (the shell library and the files for `/etc` the bootstrap installs),
//!   its own `nodes/NAME/` (bootstrap script and kubeadm configuration, which
//!   holds the join token: no node gets another's), and the carried release
//!   files the bootstrap unpacks, for each of the site's architectures
//!   (`mb_install_binaries`: containerd, runc, the CNI plugins, crictl,
//!   kubeadm, kubelet, kubectl);
//! - workers besides: `ops/cert-expiry.sh`, which reads the node's own
//!   certificates (the kubelet's) and leaves the cluster's to a
//!   control-plane node;
//! - control-plane nodes besides: istioctl (their bootstrap installs it),
//!   `manifests/` and `ops/` (the operations scripts run on any control-plane
//!   node, which has kubectl, istioctl and the admin kubeconfig, and read the
//!   manifests: `backup.sh`, `upgrade-canary.sh`, `verify.sh`), but for
//!   `renew-join-credentials.sh`, which reads the first control-plane node's
//!   kubeadm configuration and so runs there only;
//! - the first control-plane node alone: everything else, above all every
//!   private file outside its own `nodes/NAME/` (the Kubernetes, etcd and
//!   front-proxy CA keys and `sa.key` that `kubeadm init` is given, the
//!   Istio CA and the ingress key `install.sh cluster` applies), the public
//!   files of `secrets/`, the upstream copies and extra files of `files/`
//!   and the meshbundle binary. The other control-plane nodes get the
//!   control-plane certificates from the cluster (`kubeadm join
//!   --certificate-key`), workers never need them.
//!
//! Whatever this module does not name goes to the first control-plane node
//! only, so a file added later is never spread by mistake.

use std::collections::BTreeSet;

use crate::spec::{Role, Site};
use crate::tree::{FileTree, MODE_SECRET};

/// The carried release files every node's bootstrap unpacks, by name without
/// the `-ARCH` suffix.
pub const NODE_BINARIES: &[&str] = &[
    "containerd",
    "runc",
    "cni-plugins",
    "crictl",
    "kubeadm",
    "kubelet",
    "kubectl",
];

/// The carried release files only control-plane nodes' bootstraps unpack.
pub const CONTROL_PLANE_BINARIES: &[&str] = &["istioctl"];

/// Operations scripts that read what only the first control-plane node has.
const FIRST_ONLY_OPS: &[&str] = &["ops/renew-join-credentials.sh"];

/// Operations scripts a worker runs too: they read only the node's own files.
const WORKER_OPS: &[&str] = &["ops/cert-expiry.sh"];

/// The file, at the top of an extracted directory, that names the node it
/// was laid out for (absent in a full extraction); `install.sh` reads it.
pub const NODE_MARKER: &str = ".meshbundle-node";

/// What a node does in the install, which decides what it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Runs `kubeadm init` and `install.sh cluster`: gets everything but the
    /// other nodes' `nodes/NAME/`.
    FirstControlPlane,
    /// Joins the control plane: no private file but its own configuration.
    JoiningControlPlane,
    /// Joins as a worker: its bootstrap's files only.
    Worker,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("there is no node `{}` in site {site} (its nodes: {})", .name.escape_debug(), .nodes.join(", "))]
    UnknownNode {
        name: String,
        site: String,
        nodes: Vec<String>,
    },
}

/// The files one node gets.
#[derive(Debug, Clone)]
pub struct NodeLayout {
    name: String,
    part: Part,
    /// `files/` names of the release files this node's bootstrap unpacks.
    binaries: BTreeSet<String>,
}

impl NodeLayout {
    /// The layout of node `name` of `site`; an error listing the site's nodes
    /// when it has none of that name.
    pub fn new(site: &Site, name: &str) -> Result<NodeLayout, LayoutError> {
        let spec = &site.spec;
        let Some(node) = spec.nodes.iter().find(|n| n.name == name) else {
            return Err(LayoutError::UnknownNode {
                name: name.to_string(),
                site: site.metadata.name.clone(),
                nodes: spec.nodes.iter().map(|n| n.name.clone()).collect(),
            });
        };
        let part = match node.role {
            Role::ControlPlane if site.first_control_plane().is_some_and(|f| f.name == node.name) => {
                Part::FirstControlPlane
            }
            Role::ControlPlane => Part::JoiningControlPlane,
            Role::Worker => Part::Worker,
        };
        let mut names: Vec<&str> = NODE_BINARIES.to_vec();
        if node.role == Role::ControlPlane {
            names.extend(CONTROL_PLANE_BINARIES);
        }
        let binaries = names
            .iter()
            .flat_map(|n| {
                spec.architectures
                    .iter()
                    .map(move |a| format!("files/{n}-{}", a.as_str()))
            })
            .collect();
        Ok(NodeLayout {
            name: node.name.clone(),
            part,
            binaries,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn part(&self) -> Part {
        self.part
    }

    /// Whether this node gets the file that lands at `path` in an extracted
    /// directory (`install.sh`, `nodes/cp-2/kubeadm.yaml`,
    /// `files/kubeadm-amd64`, `bin/meshbundle`): `private` when it is a
    /// secret (mode 0600 in the tree, sealed in a bundle).
    pub fn gets(&self, path: &str, private: bool) -> bool {
        let first = self.part == Part::FirstControlPlane;
        let control_plane = self.part != Part::Worker;
        if let Some(rest) = path.strip_prefix("nodes/") {
            // Only its own: every kubeadm.yaml holds the join token.
            return rest
                .split_once('/')
                .is_some_and(|(node, file)| node == self.name && !file.is_empty());
        }
        if private {
            return first;
        }
        if first
            || path == "install.sh"
            || path == "README.md"
            || path.starts_with("common/")
            || self.binaries.contains(path)
        {
            return true;
        }
        if WORKER_OPS.contains(&path) {
            return true;
        }
        if control_plane
            && (path.starts_with("manifests/") || path.starts_with("ops/"))
            && !FIRST_ONLY_OPS.contains(&path)
        {
            return true;
        }
        false
    }

    /// The paths of `tree` this node gets, in order.
    pub fn files<'t>(&self, tree: &'t FileTree) -> Vec<&'t str> {
        tree.iter()
            .filter(|(p, f)| self.gets(p, f.mode == MODE_SECRET))
            .map(|(p, _)| p)
            .collect()
    }
}

/// The paths of a rendered tree node `name` gets.
pub fn node_files<'t>(site: &Site, name: &str, tree: &'t FileTree) -> Result<Vec<&'t str>, LayoutError> {
    Ok(NodeLayout::new(site, name)?.files(tree))
}
