//! Istio revisions over a site's life, with stable revision tags
//! (`spec.istio.upgrade`): the mesh namespaces are labelled
//! `istio.io/rev=<stableTag>`, never with a revision, so moving the mesh to
//! another revision is `istioctl tag set <stableTag> --revision NEW` and a
//! restart of the workloads, not a relabelling of every namespace.
//!
//! - `install.sh cluster` points the stable, canary and `default` tags at this
//!   revision when they do not exist yet (a first install), and leaves them
//!   where an upgrade or a rollback put them otherwise.
//! - `ops/upgrade-canary.sh` (from the new bundle): `istioctl x precheck`; the
//!   new istiod beside the running one (gateways left out, so they stay on
//!   the old revision); the canary tag on the new revision and the canary
//!   namespaces moved through it first; then the stable and `default` tags;
//!   then every namespace on the stable tag restarted, one namespace at a
//!   time, one workload at a time, each followed by `rollout status`; then
//!   the gateways; then `ops/verify.sh`.
//! - `ops/rollback-canary.sh` (from the old bundle): the tags back to its
//!   revision, the workloads restarted, the gateways reinstalled by its own
//!   istioctl, verify. It refuses when that revision is no longer installed.
//! - `ops/remove-revision.sh OLD`: moves the `default` tag to this revision
//!   first, refuses while a namespace label, another tag or a proxy still
//!   uses OLD, then `istioctl uninstall --revision OLD`.
//!
//! Gateways are IstioOperator components. Unlike istiod they do not run per
//! revision: the Deployment `istio-ingressgateway` is one object, labelled
//! `istio.io/rev` with the revision whose istioctl installed it last. So the
//! canary install leaves them out (installing a revision with its gateways
//! upgrades them in place at once), the upgrade moves them last with the new
//! revision's full IstioOperator, and a rollback moves them back with the old
//! revision's IstioOperator and istioctl, which only the old bundle has
//! (Istio's canary upgrade guide: reinstall the old gateways with the old
//! istioctl). A second run of the upgrade after the gateways moved installs
//! with them: installing the revision that owns them with the gateways
//! disabled would prune them.
//!
//! Every step can run again: tags are set with `--overwrite`, and a namespace
//! whose workloads were all restarted onto a revision is annotated
//! `meshbundle.dev/restarted-onto=<revision>`, so a run stopped by a failed
//! rollout resumes at the namespace that failed.

use super::shell::{array, quote};
use super::{Ctx, RenderError};
use crate::tree::{FileTree, MODE_EXEC};

/// The namespace annotation that records the revision a namespace's
/// workloads were last restarted onto.
pub(crate) const RESTARTED_ONTO: &str = "meshbundle.dev/restarted-onto";

fn stable<'a>(ctx: &Ctx<'a>) -> &'a str {
    &ctx.site.spec.istio.upgrade.stable_tag
}

fn canary<'a>(ctx: &Ctx<'a>) -> &'a str {
    &ctx.site.spec.istio.upgrade.canary_tag
}

/// The variables and functions the three scripts share.
fn prelude(ctx: &Ctx) -> String {
    let istio = &ctx.site.spec.istio;
    format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

REVISION={rev}
ISTIO_VERSION={version}
STABLE={stable}
CANARY={canary}
# The mesh namespaces of the spec.
NAMESPACES={namespaces}
GATEWAYS={gateways}
OPERATOR="$ROOT/manifests/istio/istio-operator.yaml"
TIMEOUT="${{TIMEOUT:-300s}}"

# The revision a tag points at (empty: no such tag).
tag_revision() {{
  kubectl get mutatingwebhookconfigurations -l "istio.io/tag=$1" -o jsonpath='{{.items[*].metadata.labels.istio\.io/rev}}'
}}

# The revisions whose istiod is installed, one a line.
installed_revisions() {{
  kubectl -n istio-system get deployments -l app=istiod -o jsonpath='{{range .items[*]}}{{.metadata.labels.istio\.io/rev}}{{"\n"}}{{end}}'
}}

# The revision a gateway's Deployment was installed by.
gateway_revision() {{
  kubectl -n "${{1%%/*}}" get deployment "${{1##*/}}" --ignore-not-found -o jsonpath='{{.metadata.labels.istio\.io/rev}}'
}}

# Restarts, one namespace at a time, every namespace whose workloads follow
# the stable or the default tag: the spec's, and any other labelled with
# $STABLE or istio-injection=enabled.
restart_all() {{
  local tagged injected ns
  tagged=$(kubectl get namespaces -l "istio.io/rev=$STABLE" -o jsonpath='{{range .items[*]}}{{.metadata.name}}{{"\n"}}{{end}}')
  injected=$(kubectl get namespaces -l istio-injection=enabled -o jsonpath='{{range .items[*]}}{{.metadata.name}}{{"\n"}}{{end}}')
  for ns in $(printf '%s\n' "${{NAMESPACES[@]}}" "$tagged" "$injected" | sed '/^$/d' | sort -u); do
    echo "== namespace $ns -> $REVISION"
    restart_namespace "$REVISION" "$ns"
  done
}}

# Restarts a namespace's workloads onto revision $1, one at a time, each
# followed by its rollout status, then records it on the namespace; a
# namespace that records $1 already is skipped, so a second run resumes.
restart_namespace() {{
  local onto=$1 ns=$2 recorded workloads w
  recorded=$(kubectl get namespace "$ns" -o jsonpath='{{.metadata.annotations.{annotation_path}}}')
  if [[ "$recorded" == "$onto" ]]; then
    echo "$ns: workloads already restarted onto $onto"
    return 0
  fi
  # Each workload by name: `rollout status` of a kind without a name waits
  # on nothing. Pods that no workload owns keep their proxy until deleted:
  # ops/remove-revision.sh refuses while any proxy still runs on the old revision.
  workloads=$(kubectl -n "$ns" get deployments,statefulsets,daemonsets -o name)
  while IFS= read -r w; do
    [[ -n "$w" ]] || continue
    kubectl -n "$ns" rollout restart "$w"
    kubectl -n "$ns" rollout status "$w" --timeout="$TIMEOUT" ||
      mb_die "$ns: $w did not roll out onto $onto within $TIMEOUT; fix it (kubectl -n $ns describe $w), then run $0 again: it goes on from $ns"
  done <<<"$workloads"
  kubectl annotate namespace "$ns" "{annotation}=$onto" --overwrite
}}

# Moves the gateways to this revision with its IstioOperator and its istioctl.
move_gateways() {{
  local gw rev
  istioctl install -y -f "$OPERATOR"
  for gw in "${{GATEWAYS[@]}}"; do
    kubectl -n "${{gw%%/*}}" rollout status "deployment/${{gw##*/}}" --timeout="$TIMEOUT" ||
      mb_die "gateway $gw did not roll out within $TIMEOUT; run $0 again once it is fixed"
    rev=$(gateway_revision "$gw")
    [[ "$rev" == "$REVISION" ]] || mb_die "gateway $gw runs revision ${{rev:-unknown}}, not $REVISION"
  done
}}

mb_require_istioctl "$ISTIO_VERSION" "$ROOT/files"
revisions=$(installed_revisions)
"#,
        rev = quote(&ctx.revision),
        version = quote(&istio.version),
        stable = quote(stable(ctx)),
        canary = quote(canary(ctx)),
        namespaces = array(&ctx.mesh_namespaces()),
        gateways = array(&super::ops::gateways(ctx)),
        annotation = RESTARTED_ONTO,
        annotation_path = RESTARTED_ONTO.replace('.', "\\."),
    )
}

/// `--set` arguments that leave the enabled gateways out of an install.
fn without_gateways(ctx: &Ctx) -> String {
    let istio = &ctx.site.spec.istio;
    let mut out = String::new();
    for (g, list) in [
        (&istio.ingress_gateway, "ingressGateways"),
        (&istio.egress_gateway, "egressGateways"),
    ] {
        if g.enabled {
            out.push_str(&format!(" \\\n    --set 'components.{list}[0].enabled=false'"));
        }
    }
    out
}

fn upgrade(ctx: &Ctx) -> String {
    let body = format!(
        r#"{prelude}
# Moved first, through $CANARY.
CANARY_NAMESPACES={canary_namespaces}

echo "== istioctl x precheck"
istioctl x precheck || mb_die "istioctl x precheck found problems (above): fix them, then run $0 again; nothing was changed"

# The revision the mesh runs on: where the stable tag points. A site
# installed before revision tags has none; its namespaces name the revision.
from=$(tag_revision "$STABLE")
if [[ -z "$from" ]]; then
  mapfile -t others < <(grep -vxF -e "$REVISION" -e '' <<<"$revisions" || true)
  if ((${{#others[@]}} == 0)); then
    mb_die "no other Istio revision is installed and there is no $STABLE tag: for a first install, run ./install.sh cluster"
  elif ((${{#others[@]}} > 1)); then
    mb_die "revisions ${{others[*]}} are installed and no $STABLE tag says which the mesh runs on: istioctl tag set $STABLE --revision THAT_ONE, then run $0 again"
  fi
  from=${{others[0]}}
  echo "== revision tag $STABLE -> $from, the mesh namespaces labelled with it (they stay on $from)"
  istioctl tag set "$STABLE" --revision "$from" -y
  for ns in "${{NAMESPACES[@]}}"; do
    kubectl label namespace "$ns" "istio.io/rev=$STABLE" --overwrite
  done
elif [[ "$from" != "$REVISION" ]] && ! grep -qxF -- "$from" <<<"$revisions"; then
  mb_die "the $STABLE tag points at $from, which is not installed: point it at the revision the mesh runs on, then run $0 again"
fi

moved=0
for gw in "${{GATEWAYS[@]}}"; do
  rev=$(gateway_revision "$gw")
  if [[ "$rev" == "$REVISION" ]]; then
    moved=1
  fi
done
if ((moved)); then
  # A second run after the gateways moved: this revision owns them now, and
  # installing it without them would remove them.
  echo "== istiod $REVISION (the gateways run on it already)"
  istioctl install -y -f "$OPERATOR"
else
  echo "== install istiod $REVISION beside $from (the gateways stay on $from)"
  istioctl install -y -f "$OPERATOR"{without_gateways}
fi
kubectl -n istio-system rollout status "deployment/istiod-$REVISION" --timeout="$TIMEOUT"

echo "== revision tag $CANARY -> $REVISION"
istioctl tag set "$CANARY" --revision "$REVISION" --overwrite -y
if [[ "$from" != "$REVISION" ]]; then
  for ns in "${{CANARY_NAMESPACES[@]}}"; do
    echo "== canary namespace $ns -> $CANARY ($REVISION)"
    kubectl label namespace "$ns" "istio.io/rev=$CANARY" --overwrite
    restart_namespace "$REVISION" "$ns"
  done
fi

# The default tag decides which istiod validates Istio configuration, injects
# istio-injection=enabled namespaces and answers istioctl without --revision:
# it follows the stable tag.
echo "== revision tags $STABLE and default -> $REVISION"
istioctl tag set "$STABLE" --revision "$REVISION" --overwrite -y
istioctl tag set default --revision "$REVISION" --overwrite -y

for ns in "${{NAMESPACES[@]}}"; do
  kubectl label namespace "$ns" "istio.io/rev=$STABLE" --overwrite
done
restart_all

echo "== gateways -> $REVISION"
move_gateways

"$HERE/verify.sh"
echo
echo "the mesh runs on $REVISION."
for r in $revisions; do
  if [[ "$r" != "$REVISION" ]]; then
    echo "to go back to $r: ops/rollback-canary.sh from the bundle of $r (its istioctl reinstalls its gateways)"
    echo "once satisfied, remove $r: $HERE/remove-revision.sh $r"
  fi
done
"#,
        prelude = prelude(ctx),
        without_gateways = without_gateways(ctx),
        canary_namespaces = array(&ctx.site.spec.istio.upgrade.canary_namespaces),
    );
    super::ops::script(
        ctx,
        "Canary upgrade to this bundle's Istio revision: precheck, the new istiod beside the running one, the canary\n# namespaces through the canary tag, then the stable and default tags, the workloads namespace by namespace,\n# the gateways, verify. Stops at the first failure; run it again to go on.",
        "ops/upgrade-canary.sh   (from the new bundle, on a control-plane node)",
        &body,
    )
}

fn rollback(ctx: &Ctx) -> String {
    let body = format!(
        r#"{prelude}
grep -qxF -- "$REVISION" <<<"$revisions" ||
  mb_die "revision $REVISION is no longer installed (installed: $(tr '\n' ' ' <<<"$revisions")): there is nothing to roll back to; move forward from the bundle of an installed revision"
from=$(tag_revision "$STABLE")

echo "== revision tags $STABLE, $CANARY and default -> $REVISION (from ${{from:-no tag}})"
istioctl tag set "$STABLE" --revision "$REVISION" --overwrite -y
istioctl tag set "$CANARY" --revision "$REVISION" --overwrite -y
istioctl tag set default --revision "$REVISION" --overwrite -y

for ns in "${{NAMESPACES[@]}}"; do
  kubectl label namespace "$ns" "istio.io/rev=$STABLE" --overwrite
done
restart_all

echo "== gateways -> $REVISION"
move_gateways

"$HERE/verify.sh"
echo
echo "the mesh runs on $REVISION again."
for r in $revisions; do
  if [[ "$r" != "$REVISION" ]]; then
    echo "once you no longer need it, remove $r: $HERE/remove-revision.sh $r"
  fi
done
"#,
        prelude = prelude(ctx),
    );
    super::ops::script(
        ctx,
        "Rolls the mesh back to this bundle's Istio revision after a canary upgrade to another one, before that\n# other one is removed: the stable, canary and default tags back, the workloads namespace by namespace, the\n# gateways reinstalled by this bundle's istioctl, verify. Refuses when this revision is no longer installed.",
        "ops/rollback-canary.sh   (from the bundle of the revision to go back to, on a control-plane node)",
        &body,
    )
}

fn remove_revision(ctx: &Ctx) -> String {
    let body = format!(
        r#"{prelude}
old=${{1:?give the revision to remove, e.g. 1-29-6}}
if [[ "$old" == "$REVISION" ]]; then
  mb_die "refusing to remove $REVISION: it is this bundle's revision"
fi
grep -qxF -- "$REVISION" <<<"$revisions" ||
  mb_die "this bundle's revision $REVISION is not installed: run remove-revision.sh from the bundle of the revision the mesh runs on"
if ! grep -qxF -- "$old" <<<"$revisions"; then
  echo "revision $old is not installed: nothing to remove"
  exit 0
fi
stable_at=$(tag_revision "$STABLE")
if [[ -n "$stable_at" && "$stable_at" != "$REVISION" ]]; then
  mb_die "the mesh runs on $stable_at ($STABLE), not on this bundle's $REVISION: finish ops/upgrade-canary.sh or ops/rollback-canary.sh first"
fi
# A revision tag left on $old would point at a deleted istiod.
tags=$(kubectl get mutatingwebhookconfigurations -l "istio.io/tag,istio.io/rev=$old" -o jsonpath='{{range .items[*]}}{{.metadata.labels.istio\.io/tag}}{{"\n"}}{{end}}' | sed '/^default$/d;/^$/d')
if [[ -n "$tags" ]]; then
  mb_die "revision tags still point at $old: $(tr '\n' ' ' <<<"$tags")- move each first: istioctl tag set TAG --revision $REVISION --overwrite -y ($STABLE and $CANARY: ops/upgrade-canary.sh)"
fi
if kubectl get namespaces -l "istio.io/rev=$old" -o name | grep . >&2; then
  mb_die "the namespaces above are labelled istio.io/rev=$old: label them istio.io/rev=$STABLE and restart their workloads first"
fi
# The default tag validates Istio configuration: on a deleted istiod, every
# write of Istio configuration would fail. It moves before anything goes.
default_at=$(tag_revision default)
if [[ "$default_at" != "$REVISION" ]]; then
  echo "== revision tag default -> $REVISION"
  istioctl tag set default --revision "$REVISION" --overwrite -y
fi
# Proxies still connected to $old (pods no workload owns, workloads not
# restarted) would lose their istiod and, within a day, their certificates.
proxies=$(istioctl proxy-status --revision "$old" | tail -n +2)
if [[ -n "$proxies" ]]; then
  echo "$proxies" >&2
  mb_die "the proxies above still run on $old: restart (or delete) their pods first"
fi
echo "== istioctl uninstall --revision $old"
istioctl uninstall -y --revision "$old"
echo "revision $old removed"
"#,
        prelude = prelude(ctx),
    );
    super::ops::script(
        ctx,
        "Removes an old Istio revision once nothing uses it: the default tag moved to this revision first, then\n# refused while a namespace label, another revision tag or a proxy still uses it.",
        "ops/remove-revision.sh OLD_REVISION   (from the bundle of the revision the mesh runs on)",
        &body,
    )
}

/// The shell function of `install.sh` that points the revision tags at this
/// revision where they do not exist yet, and the calls of it.
pub(crate) fn install_tags_fn(ctx: &Ctx) -> String {
    format!(
        r#"# Revision tags: the mesh namespaces are labelled istio.io/rev={stable}; the
# default tag validates Istio configuration and injects istio-injection=enabled
# namespaces. A first install points them at this revision; once
# ops/upgrade-canary.sh or ops/rollback-canary.sh moved them, they stay.
revision_tags() {{
  local tag at
  for tag in {tags}; do
    at=$(kubectl get mutatingwebhookconfigurations -l "istio.io/tag=$tag" -o jsonpath='{{.items[*].metadata.labels.istio\.io/rev}}')
    if [[ -z "$at" ]]; then
      istioctl tag set "$tag" --revision "$REVISION" -y
    elif [[ "$at" != "$REVISION" ]]; then
      mb_log "revision tag $tag points at $at, not $REVISION: left there (ops/rollback-canary.sh of this bundle moves it back)"
    fi
  done
}}
"#,
        stable = super::shell::comment(stable(ctx)),
        tags = [stable(ctx), canary(ctx), "default"].map(quote).join(" "),
    )
}

/// `install.sh cluster`, before the namespaces: on a second run, the tags the
/// namespaces are labelled with exist before the labels do.
pub(crate) fn install_tags_before_namespaces() -> &'static str {
    r#"  if kubectl -n istio-system get deployments -l app=istiod -o jsonpath='{range .items[*]}{.metadata.labels.istio\.io/rev}{"\n"}{end}' | grep -xF -- "$REVISION" >/dev/null; then
    revision_tags
  fi
"#
}

/// `ops/verify.sh`: the stable tag on this revision, the mesh namespaces on
/// the stable tag, the gateways on this revision.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    format!(
        r#"
echo "== revision tags and namespaces"
STABLE={stable}
MESH_NAMESPACES={namespaces}
stable_at=$(kubectl get mutatingwebhookconfigurations -l "istio.io/tag=$STABLE" -o jsonpath='{{.items[*].metadata.labels.istio\.io/rev}}' || true)
[[ "$stable_at" == "$REVISION" ]] || problem "the $STABLE revision tag points at ${{stable_at:-nothing}}, not $REVISION (ops/upgrade-canary.sh moves it)"
for ns in "${{MESH_NAMESPACES[@]}}"; do
  label=$(kubectl get namespace "$ns" -o jsonpath='{{.metadata.labels.istio\.io/rev}}' || true)
  [[ "$label" == "$STABLE" ]] || problem "namespace $ns is labelled istio.io/rev=${{label:-nothing}}, not $STABLE"
done
for gw in "${{GATEWAYS[@]}}"; do
  rev=$(kubectl -n "${{gw%%/*}}" get deployment "${{gw##*/}}" -o jsonpath='{{.metadata.labels.istio\.io/rev}}' || true)
  [[ "$rev" == "$REVISION" ]] || problem "gateway $gw runs revision ${{rev:-unknown}}, not $REVISION"
done
"#,
        stable = quote(stable(ctx)),
        namespaces = array(&ctx.mesh_namespaces()),
    )
}

/// The README's section on Istio upgrades.
pub(crate) fn readme(ctx: &Ctx) -> String {
    let up = &ctx.site.spec.istio.upgrade;
    let canary_ns = if up.canary_namespaces.is_empty() {
        "No namespace is named in `spec.istio.upgrade.canaryNamespaces`, so all move together.".to_string()
    } else {
        format!(
            "First the canary namespaces ({}, `spec.istio.upgrade.canaryNamespaces`) move:\nlabelled `istio.io/rev={}`, their workloads restarted.",
            up.canary_namespaces
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            up.canary_tag
        )
    };
    format!(
        r#"## Istio upgrades

The mesh namespaces are labelled `istio.io/rev={stable}`, a revision tag, not a revision:
`{stable}` (and `{canary}`, and `default`) point at revision `{rev}` after the first install.
Revisions run side by side; moving the mesh is moving the tag and restarting the workloads.

From the new bundle, on {first}, run `ops/upgrade-canary.sh`. It runs `istioctl x precheck`
and stops on a problem, installs the new istiod beside the running one (the gateways stay
where they are) and points `{canary}` at the new revision.
{canary_ns}
Then `{stable}` and `default` move to the new revision, and the workloads of every
namespace on `{stable}` are restarted, one namespace at a time, each workload followed
by `kubectl rollout status`.
Then the gateways move (they are not per revision: the new revision's istioctl upgrades them
in place), and `ops/verify.sh` checks the result. It stops at the first failure; fix it
and run it again: tags are set with `--overwrite`, and namespaces already restarted onto
the new revision (annotated `{annotation}`) are skipped.

To go back before the old revision is removed, run `ops/rollback-canary.sh` from the
**old** bundle: it moves the three tags back, restarts the workloads and reinstalls the
gateways with the old istioctl (only the old bundle has it), then verifies. It refuses
once that revision is no longer installed.

When satisfied, `ops/remove-revision.sh OLD` from the new bundle: it moves the `default`
tag (the istiod that validates Istio configuration) to the new revision first, refuses
while a namespace label, another tag or a proxy (`istioctl proxy-status --revision OLD`)
still uses OLD, and then runs `istioctl uninstall --revision OLD`.

"#,
        stable = up.stable_tag,
        canary = up.canary_tag,
        rev = ctx.revision,
        first = ctx
            .site
            .first_control_plane()
            .map(|n| n.name.as_str())
            .unwrap_or_default(),
        annotation = RESTARTED_ONTO,
    )
}

pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    tree.add("ops/upgrade-canary.sh", upgrade(ctx), MODE_EXEC);
    tree.add("ops/rollback-canary.sh", rollback(ctx), MODE_EXEC);
    tree.add("ops/remove-revision.sh", remove_revision(ctx), MODE_EXEC);
    Ok(())
}
