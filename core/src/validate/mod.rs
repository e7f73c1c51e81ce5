//! Semantic validation of a site spec: every problem at once, each with its
//! field path, a message and a hint. Errors make a spec unusable; warnings
//! flag what is allowed but risky.

mod alertmanager;
mod cluster;
mod cni;
pub mod load_balancer;
mod mesh;
mod metrics;
pub mod time;
pub mod values;
mod versions;

pub use alertmanager::{is_mail_address, webhook_url_problem};
pub use versions::{KubeVersion, Unsupported, kubeadm_api, unsupported_combinations};

use crate::diag::{Diagnostic, Diagnostics};
use crate::spec::Site;

/// Checks a typed site. Structural problems (unknown fields, wrong types) are
/// found while reading it; see [`crate::spec::load::load`].
pub fn check(site: &Site) -> Vec<Diagnostic> {
    let mut d = Diagnostics::default();
    versions::check(site, &mut d);
    cluster::check(site, &mut d);
    cni::check(site, &mut d);
    mesh::check(site, &mut d);
    time::check(site, &mut d);
    load_balancer::check(site, &mut d);
    alertmanager::check(site, &mut d);
    metrics::check(site, &mut d);
    d.0
}
