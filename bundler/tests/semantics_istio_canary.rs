//! Canary upgrades of Istio with stable revision tags, run for real under
//! bash from bundles of successive Istio releases against kubectl and
//! istioctl stubs that keep the cluster's state the way the cluster would:
//! installed revisions, revision tags, namespace labels and annotations,
//! the revision of each gateway (IstioOperator gateways are not per
//! revision: whichever revision's istioctl installed them last owns them, and
//! installing that revision without them prunes them), and the revision each
//! workload's proxy runs, which a restart takes from the namespace's label
//! through its tag, as the injection webhooks do. What the tests assert is
//! what that state means: which revision each proxy and gateway runs on,
//! where each tag points, and which commands ran in which order.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;

const STUB: &str = r#"#!/usr/bin/env bash
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
st=$MB_STATE
arg_after() {
  local want=$1 prev= a
  shift
  for a in "$@"; do
    if [[ "$prev" == "$want" ]]; then echo "$a"; return; fi
    prev=$a
  done
}
# The revision new pods of a namespace get: its istio.io/rev label, through
# the tag of that name, or the revision itself.
resolve() {
  local label
  label=$(cat "$st/ns-$1" 2>/dev/null) || return 0
  if [[ -e "$st/tag-$label" ]]; then cat "$st/tag-$label"
  elif [[ -e "$st/rev-$label" ]]; then echo "$label"
  else echo none
  fi
}
case "$name" in
  istioctl)
    case "$1" in
      version) echo "client version: $MB_ISTIOCTL" ;;
      x)
        if [[ "$2" == precheck && -e "$st/precheck-fails" ]]; then
          echo "Error [IST0141] (Cluster) Missing required permission to create resource mutatingwebhookconfigurations"
          exit 1
        fi ;;
      install)
        file=$(arg_after -f "$@")
        rev=$(sed -n 's/^  revision: *//p' "$file" | tr -d "\"'")
        touch "$st/rev-$rev"
        if [[ " $* " == *"Gateways[0].enabled=false"* ]]; then
          # A revision installed without its gateways prunes those it owns.
          for g in "$st"/gw-*; do
            if [[ -e "$g" && "$(cat "$g")" == "$rev" ]]; then rm -f "$g"; fi
          done
        else
          for g in $MB_GATEWAYS; do echo "$rev" >"$st/gw-$g"; done
        fi ;;
      uninstall)
        rev=$(arg_after --revision "$@")
        [[ -e "$st/rev-$rev" ]] || { echo "no revision $rev" >&2; exit 1; }
        rm -f "$st/rev-$rev" ;;
      tag)
        if [[ "$2" == set ]]; then
          tag=$3
          rev=$(arg_after --revision "$@")
          [[ -e "$st/rev-$rev" ]] || { echo "cannot find an istiod for revision $rev" >&2; exit 1; }
          if [[ -e "$st/tag-$tag" && " $* " != *" --overwrite "* ]]; then
            echo "revision tag $tag already exists, and --overwrite is false" >&2
            exit 1
          fi
          echo "$rev" >"$st/tag-$tag"
        fi ;;
      proxy-status)
        rev=$(arg_after --revision "$@")
        echo "NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION"
        for p in "$st"/pod-* "$st"/gw-*; do
          if [[ -e "$p" && "$(cat "$p")" == "$rev" ]]; then
            echo "${p##*/}-5d8f Kubernetes SYNCED SYNCED SYNCED SYNCED IGNORED istiod-$rev-7c9 1.x"
          fi
        done ;;
    esac ;;
  kubectl)
    all="$*"
    case "$all" in
      *"get deployments -l app=istiod"*)
        for f in "$st"/rev-*; do [[ -e "$f" ]] && echo "${f##*/rev-}"; done ;;
      *"get mutatingwebhookconfigurations -l istio.io/tag,istio.io/rev="*)
        rev=${all##*istio.io/rev=}; rev=${rev%% *}
        for f in "$st"/tag-*; do [[ -e "$f" && "$(cat "$f")" == "$rev" ]] && echo "${f##*/tag-}"; done ;;
      *"get mutatingwebhookconfigurations -l istio.io/tag="*)
        tag=${all##*istio.io/tag=}; tag=${tag%% *}
        if [[ -e "$st/tag-$tag" ]]; then printf '%s' "$(cat "$st/tag-$tag")"; fi ;;
      *"get namespaces -l istio.io/rev="*)
        rev=${all##*istio.io/rev=}; rev=${rev%% *}
        for f in "$st"/ns-*; do
          if [[ -e "$f" && "$(cat "$f")" == "$rev" ]]; then
            if [[ "$all" == *"-o name"* ]]; then echo "namespace/${f##*/ns-}"; else echo "${f##*/ns-}"; fi
          fi
        done ;;
      *"get namespaces -l istio-injection=enabled"*) ;;
      "label namespace "*) echo "${4#istio.io/rev=}" >"$st/ns-$3" ;;
      "annotate namespace "*) echo "${4#*=}" >"$st/ann-$3" ;;
      "get namespace "*"annotations"*) if [[ -e "$st/ann-$3" ]]; then printf '%s' "$(cat "$st/ann-$3")"; fi ;;
      "get namespace "*"labels"*) if [[ -e "$st/ns-$3" ]]; then printf '%s' "$(cat "$st/ns-$3")"; fi ;;
      "-n "*" get deployments,statefulsets,daemonsets -o name") cat "$st/workloads-$2" 2>/dev/null ;;
      "-n "*" rollout restart "*) echo "$(resolve "$2")" >"$st/pod-${5##*/}.$2" ;;
      "-n istio-system rollout status deployment/istiod-"*)
        rev=${5#deployment/istiod-}
        [[ -e "$st/rev-$rev" ]] || { echo "deployment istiod-$rev not found" >&2; exit 1; } ;;
      "-n "*" rollout status "*)
        if [[ -e "$st/fail-status-$2" ]]; then echo "error: timed out waiting for the condition" >&2; exit 1; fi ;;
      "-n "*" get deployment "*) if [[ -e "$st/gw-$5" ]]; then printf '%s' "$(cat "$st/gw-$5")"; fi ;;
      "apply "*"/manifests/namespaces.yaml")
        file=${all##* }
        awk -v st="$st" '
          /^  name: / { name = $2 }
          /^    istio.io\/rev: / { rev = $2; gsub(/["\047]/, "", rev); print rev > (st "/ns-" name) }
        ' "$file" ;;
      # HEALTHY CLUSTER
    esac ;;
esac
exit 0
"#;

const GATEWAYS: &str = "istio-ingressgateway istio-egressgateway";

struct Cluster {
    dir: tempfile::TempDir,
    state: PathBuf,
    log: PathBuf,
    stubs: PathBuf,
    site: Site,
}

/// The production site with mesh namespaces `billing`, `orders` and `shop`
/// (the routes' backend), `canary` moved first.
fn site(canary: &[&str]) -> Site {
    let mut site = example("production");
    site.spec.kubernetes.version = "1.34.12".into();
    site.spec.istio.namespaces = vec!["billing".into(), "orders".into()];
    site.spec.istio.upgrade.canary_namespaces = canary.iter().map(|s| s.to_string()).collect();
    site
}

fn rev(version: &str) -> String {
    version.replace('.', "-")
}

impl Cluster {
    fn new(site: Site) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in ["kubectl", "istioctl"] {
            let p = stubs.join(s);
            std::fs::write(
                &p,
                STUB.replace("      # HEALTHY CLUSTER\n", &cluster::healthy_cluster_arms(&site)),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("calls.log");
        Cluster {
            dir,
            state,
            log,
            stubs,
            site,
        }
    }

    /// The site's bundle at Istio `version`.
    fn bundle(&self, version: &str) -> PathBuf {
        self.bundle_named(version, None)
    }

    /// The site's bundle at Istio `version`, its revision named `revision`.
    fn bundle_named(&self, version: &str, revision: Option<&str>) -> PathBuf {
        let mut site = self.site.clone();
        site.spec.istio.version = version.into();
        site.spec.istio.revision = revision.map(str::to_string);
        let secrets = meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap();
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let out = self.dir.path().join(match revision {
            Some(r) => format!("bundle-{version}@{r}"),
            None => format!("bundle-{version}"),
        });
        if !out.exists() {
            write_tree(&tree, &out);
        }
        out
    }

    fn run(&self, bundle: &Path, args: &[&str]) -> Output {
        let sysroot = self.dir.path().join("root");
        std::fs::create_dir_all(&sysroot).unwrap();
        let name = bundle
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_prefix("bundle-")
            .unwrap();
        let version = name.split('@').next().unwrap().to_string();
        Command::new("bash")
            .args(args)
            .current_dir(bundle)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.stubs.display()),
            )
            .env("HOME", &sysroot)
            .env("MESHBUNDLE_SYSROOT", &sysroot)
            .env("MB_LOG", &self.log)
            .env("MB_STATE", &self.state)
            .env("MB_ISTIOCTL", version)
            .env("MB_GATEWAYS", GATEWAYS)
            .env("TIMEOUT", "1s")
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn reset_log(&self) {
        let _ = std::fs::remove_file(&self.log);
    }

    fn state(&self, prefix: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(&self.state).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_prefix(prefix) {
                out.insert(
                    key.to_string(),
                    std::fs::read_to_string(e.path()).unwrap().trim().to_string(),
                );
            }
        }
        out
    }

    fn set(&self, file: &str, value: &str) {
        std::fs::write(self.state.join(file), value).unwrap();
    }

    fn unset(&self, file: &str) {
        std::fs::remove_file(self.state.join(file)).unwrap();
    }

    fn revisions(&self) -> Vec<String> {
        self.state("rev-").into_keys().collect()
    }

    fn tags(&self) -> BTreeMap<String, String> {
        self.state("tag-")
    }

    /// The first install from `bundle`, then the site's workloads deployed
    /// (and injected) in each mesh namespace: `web` and `cache` in each, plus
    /// `worker` in billing.
    fn install(&self, bundle: &Path) {
        ok(&self.run(bundle, &["install.sh", "cluster"]), "install.sh cluster");
        for ns in ["billing", "orders", "shop"] {
            let mut workloads = vec!["deployment.apps/web", "statefulset.apps/cache"];
            if ns == "billing" {
                workloads.push("daemonset.apps/worker");
            }
            self.set(&format!("workloads-{ns}"), &format!("{}\n", workloads.join("\n")));
            let label = self.state("ns-").get(ns).cloned().unwrap_or_default();
            let rev = self.tags().get(&label).cloned().unwrap_or_default();
            for w in workloads {
                self.set(&format!("pod-{}.{ns}", w.rsplit('/').next().unwrap()), &rev);
            }
        }
    }

    /// Every workload proxy and gateway runs `rev`.
    fn assert_all_on(&self, rev: &str, when: &str) {
        for (pod, on) in self.state("pod-") {
            assert_eq!(on, rev, "{when}: {pod} runs {on}");
        }
        for (gw, on) in self.state("gw-") {
            assert_eq!(on, rev, "{when}: gateway {gw} runs {on}");
        }
        assert_eq!(
            self.state("gw-").len(),
            2,
            "{when}: both gateways are there: {:?}",
            self.state("gw-")
        );
    }
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn position(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no call `{call}` in {calls:#?}"))
}

fn positions(calls: &[String], pred: impl Fn(&str) -> bool) -> Vec<usize> {
    calls
        .iter()
        .enumerate()
        .filter(|(_, c)| pred(c))
        .map(|(i, _)| i)
        .collect()
}

fn restarts(calls: &[String]) -> Vec<usize> {
    positions(calls, |c| {
        c.starts_with("kubectl -n ") && c.contains(" rollout restart ")
    })
}

#[test]
fn first_install_labels_the_mesh_namespaces_with_the_stable_tag_on_this_revision() {
    let c = Cluster::new(site(&[]));
    let b = c.bundle("1.30.3");
    c.install(&b);
    let ns = c.state("ns-");
    for n in ["billing", "orders", "shop"] {
        assert_eq!(
            ns.get(n).map(String::as_str),
            Some("prod-stable"),
            "{n} is labelled with the tag, not the revision: {ns:?}"
        );
    }
    let tags = c.tags();
    for t in ["prod-stable", "prod-canary", "default"] {
        assert_eq!(tags.get(t).map(String::as_str), Some("1-30-3"), "{t}: {tags:?}");
    }
    let calls = c.calls();
    let install = position(
        &calls,
        &format!(
            "istioctl install -y -f {}/manifests/istio/istio-operator.yaml",
            b.display()
        ),
    );
    let tag = position(&calls, "istioctl tag set prod-stable --revision 1-30-3 -y");
    assert!(install < tag, "the tag needs its revision's istiod: {calls:#?}");
    c.assert_all_on("1-30-3", "after the first install");

    // A second run of install.sh leaves the tags where they are and sets none again.
    c.reset_log();
    ok(&c.run(&b, &["install.sh", "cluster"]), "install.sh cluster again");
    assert!(
        !c.calls().iter().any(|l| l.starts_with("istioctl tag set")),
        "{:#?}",
        c.calls()
    );

    // A tag named like the spec wants it, whatever it is.
    let mut custom = site(&[]);
    custom.spec.istio.upgrade.stable_tag = "blue".into();
    custom.spec.istio.upgrade.canary_tag = "green".into();
    let c = Cluster::new(custom);
    c.install(&c.bundle("1.30.3"));
    assert_eq!(c.state("ns-").get("shop").map(String::as_str), Some("blue"));
    assert_eq!(c.tags().get("blue").map(String::as_str), Some("1-30-3"));
    assert_eq!(c.tags().get("green").map(String::as_str), Some("1-30-3"));
}

/// One canary upgrade from `from` to `to`, checked step by step.
fn upgrade_between(from: &str, to: &str) {
    let c = Cluster::new(site(&["orders"]));
    let (old, new) = (rev(from), rev(to));
    let first = c.bundle(from);
    c.install(&first);
    c.assert_all_on(&old, "after the first install");

    let b = c.bundle(to);
    c.reset_log();
    let o = c.run(&b, &["ops/upgrade-canary.sh"]);
    ok(&o, &format!("upgrade {from} -> {to}"));
    let calls = c.calls();
    let bd = b.display();
    let precheck = position(&calls, "istioctl x precheck");
    let canary_install = position(
        &calls,
        &format!(
            "istioctl install -y -f {bd}/manifests/istio/istio-operator.yaml --set components.ingressGateways[0].enabled=false --set components.egressGateways[0].enabled=false"
        ),
    );
    let tag_moves = positions(&calls, |l| l.starts_with("istioctl tag set"));
    let canary_tag = position(
        &calls,
        &format!("istioctl tag set prod-canary --revision {new} --overwrite -y"),
    );
    let stable_tag = position(
        &calls,
        &format!("istioctl tag set prod-stable --revision {new} --overwrite -y"),
    );
    let default_tag = position(
        &calls,
        &format!("istioctl tag set default --revision {new} --overwrite -y"),
    );
    let canary_label = position(
        &calls,
        "kubectl label namespace orders istio.io/rev=prod-canary --overwrite",
    );
    let gateways = calls
        .iter()
        .rposition(|l| l == &format!("istioctl install -y -f {bd}/manifests/istio/istio-operator.yaml"))
        .unwrap();
    let verify = position(&calls, &format!("istioctl proxy-status --revision {new}"));
    assert!(
        precheck < canary_install,
        "precheck before anything is installed: {calls:#?}"
    );
    assert!(
        tag_moves.iter().all(|&t| canary_install < t),
        "the new revision is installed before any tag moves: {calls:#?}"
    );
    assert!(canary_tag < canary_label, "{calls:#?}");

    // The canary namespace moves first, alone, through the canary tag; every
    // other restart comes after the stable tag moved.
    let rs = restarts(&calls);
    let (canary_rs, rest): (Vec<usize>, Vec<usize>) =
        rs.iter().partition(|&&i| calls[i].starts_with("kubectl -n orders "));
    assert_eq!(canary_rs.len(), 2, "orders' two workloads: {calls:#?}");
    assert!(
        canary_rs.iter().all(|&i| canary_label < i && i < stable_tag),
        "{calls:#?}"
    );
    assert!(
        rest.iter().all(|&i| stable_tag < i && default_tag < i),
        "tags moved before the other restarts: {calls:#?}"
    );
    assert_eq!(
        rest.len(),
        5,
        "billing's three and shop's two workloads, once each (orders is done): {calls:#?}"
    );

    // Namespace by namespace, each restart followed by its own rollout status
    // before the next workload restarts.
    for &i in &rs {
        let (ns, w) = {
            let p: Vec<&str> = calls[i].split(' ').collect();
            (p[2].to_string(), p[5].to_string())
        };
        assert_eq!(
            calls[i + 1],
            format!("kubectl -n {ns} rollout status {w} --timeout=1s"),
            "{calls:#?}"
        );
    }
    let order: Vec<String> = rs
        .iter()
        .map(|&i| calls[i].split(' ').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        ["orders", "orders", "billing", "billing", "billing", "shop", "shop"],
        "{calls:#?}"
    );
    assert!(
        rs.iter().all(|&i| i < gateways) && gateways < verify,
        "gateways after the workloads, verify last: {calls:#?}"
    );

    // What it means: everything on the new revision, the canary namespace
    // back on the stable tag, the old revision still there for a rollback.
    c.assert_all_on(&new, &format!("after {from} -> {to}"));
    assert_eq!(c.state("ns-").get("orders").map(String::as_str), Some("prod-stable"));
    for t in ["prod-stable", "prod-canary", "default"] {
        assert_eq!(c.tags().get(t), Some(&new), "{t}");
    }
    assert_eq!(c.revisions(), {
        let mut v = vec![old.clone(), new.clone()];
        v.sort();
        v
    });
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("remove-revision.sh {old}")) && out.contains("rollback-canary.sh"),
        "{out}"
    );

    // Rollback from the old bundle: the tags, the workloads and the gateways go back.
    c.reset_log();
    ok(&c.run(&first, &["ops/rollback-canary.sh"]), "rollback");
    c.assert_all_on(&old, "after the rollback");
    for t in ["prod-stable", "prod-canary", "default"] {
        assert_eq!(c.tags().get(t), Some(&old), "{t} back on {old}");
    }
    let calls = c.calls();
    let last_tag = *positions(&calls, |l| l.starts_with("istioctl tag set")).last().unwrap();
    assert!(restarts(&calls).iter().all(|&i| last_tag < i), "{calls:#?}");
    assert_eq!(restarts(&calls).len(), 7, "every workload restarted once: {calls:#?}");

    // Upgrade again, then remove the old revision from the new bundle.
    ok(&c.run(&b, &["ops/upgrade-canary.sh"]), "upgrade again");
    c.assert_all_on(&new, "after the second upgrade");
    c.reset_log();
    ok(&c.run(&b, &["ops/remove-revision.sh", &old]), "remove-revision");
    assert_eq!(c.revisions(), vec![new.clone()]);
    assert!(c.tags().values().all(|r| r == &new), "{:?}", c.tags());

    // The old bundle cannot roll back to a removed revision.
    let o = c.run(&first, &["ops/rollback-canary.sh"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains(&format!("revision {old} is no longer installed")),
        "{}",
        text(&o.stderr)
    );
    assert!(c.tags().values().all(|r| r == &new), "nothing moved: {:?}", c.tags());
}

#[test]
fn canary_upgrade_1_29_to_1_30() {
    upgrade_between("1.29.6", "1.30.3");
}

#[test]
fn canary_upgrade_1_28_to_1_30() {
    upgrade_between("1.28.10", "1.30.3");
}

#[test]
fn canary_upgrade_1_28_to_1_29() {
    upgrade_between("1.28.10", "1.29.6");
}

#[test]
fn a_failed_precheck_changes_nothing() {
    let c = Cluster::new(site(&[]));
    c.install(&c.bundle("1.29.6"));
    let b = c.bundle("1.30.3");
    c.set("precheck-fails", "");
    c.reset_log();
    let o = c.run(&b, &["ops/upgrade-canary.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("istioctl x precheck found problems"),
        "{}",
        text(&o.stderr)
    );
    let calls = c.calls();
    assert!(
        !calls
            .iter()
            .any(|l| l.starts_with("istioctl install") || l.starts_with("istioctl tag") || l.contains(" label ")),
        "{calls:#?}"
    );
    assert_eq!(c.revisions(), vec!["1-29-6".to_string()]);
}

#[test]
fn a_failed_rollout_stops_the_upgrade_and_a_second_run_resumes_where_it_stopped() {
    let c = Cluster::new(site(&[]));
    c.install(&c.bundle("1.29.6"));
    let b = c.bundle("1.30.3");

    // The second namespace's rollout fails.
    c.set("fail-status-orders", "");
    c.reset_log();
    let o = c.run(&b, &["ops/upgrade-canary.sh"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("orders: deployment.apps/web did not roll out"),
        "{}",
        text(&o.stderr)
    );
    let calls = c.calls();
    let rs: Vec<&str> = restarts(&calls).iter().map(|&i| calls[i].as_str()).collect();
    assert_eq!(
        rs,
        [
            "kubectl -n billing rollout restart deployment.apps/web",
            "kubectl -n billing rollout restart statefulset.apps/cache",
            "kubectl -n billing rollout restart daemonset.apps/worker",
            "kubectl -n orders rollout restart deployment.apps/web",
        ],
        "stops at the first failure"
    );
    assert!(
        !calls.iter().any(|l| l.contains("-n shop ")),
        "shop untouched: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|l| l
            == &format!(
                "istioctl install -y -f {}/manifests/istio/istio-operator.yaml",
                b.display()
            )),
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|l| l.starts_with("istioctl proxy-status")),
        "no verify: {calls:#?}"
    );
    assert_eq!(
        c.state("gw-").values().collect::<Vec<_>>(),
        ["1-29-6", "1-29-6"],
        "the gateways stay on the old revision"
    );
    assert_eq!(c.state("pod-").get("cache.shop").map(String::as_str), Some("1-29-6"));

    // Fixed, run again: billing is not restarted again, orders and shop are,
    // the gateways move, verify passes.
    c.unset("fail-status-orders");
    c.reset_log();
    ok(&c.run(&b, &["ops/upgrade-canary.sh"]), "second run");
    let calls = c.calls();
    let rs: Vec<&str> = restarts(&calls).iter().map(|&i| calls[i].as_str()).collect();
    assert_eq!(
        rs,
        [
            "kubectl -n orders rollout restart deployment.apps/web",
            "kubectl -n orders rollout restart statefulset.apps/cache",
            "kubectl -n shop rollout restart deployment.apps/web",
            "kubectl -n shop rollout restart statefulset.apps/cache",
        ],
        "resumes at orders"
    );
    c.assert_all_on("1-30-3", "after the second run");

    // A third run after a complete one changes nothing: no restart, and the
    // revision that owns the gateways is installed with them, not without
    // (which would prune them).
    c.reset_log();
    ok(&c.run(&b, &["ops/upgrade-canary.sh"]), "third run");
    let calls = c.calls();
    assert!(restarts(&calls).is_empty(), "{calls:#?}");
    assert!(!calls.iter().any(|l| l.contains("enabled=false")), "{calls:#?}");
    c.assert_all_on("1-30-3", "after the third run");
}

#[test]
fn remove_revision_moves_the_default_tag_first_and_refuses_while_anything_uses_the_old_revision() {
    let c = Cluster::new(site(&[]));
    c.install(&c.bundle("1.29.6"));
    let b = c.bundle("1.30.3");
    ok(&c.run(&b, &["ops/upgrade-canary.sh"]), "upgrade");
    let old = "1-29-6";

    let refused = |what: &str, expect: &str| {
        c.reset_log();
        let o = c.run(&b, &["ops/remove-revision.sh", old]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{what}: must refuse\n{}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        assert!(text(&o.stderr).contains(expect), "{what}: {}", text(&o.stderr));
        assert!(
            !c.calls().iter().any(|l| l.starts_with("istioctl uninstall")),
            "{what}: {:#?}",
            c.calls()
        );
        assert!(c.revisions().contains(&old.to_string()), "{what}");
    };

    // A namespace labelled with the old revision itself.
    c.set("ns-legacy", old);
    refused("a namespace label", "labelled istio.io/rev=1-29-6");
    c.unset("ns-legacy");

    // A tag of the operator's own on the old revision.
    c.set("tag-team-a", old);
    refused("a tag", "revision tags still point at 1-29-6: team-a");
    c.unset("tag-team-a");

    // A pod no workload owns, still on the old revision.
    c.set("pod-debug.shop", old);
    refused("a proxy", "still run on 1-29-6");
    c.unset("pod-debug.shop");

    // The default tag left on the old revision is moved, before the uninstall.
    c.set("tag-default", old);
    c.reset_log();
    ok(&c.run(&b, &["ops/remove-revision.sh", old]), "remove-revision");
    let calls = c.calls();
    let tag = position(&calls, "istioctl tag set default --revision 1-30-3 --overwrite -y");
    let uninstall = position(&calls, "istioctl uninstall -y --revision 1-29-6");
    assert!(tag < uninstall, "{calls:#?}");
    assert_eq!(c.revisions(), vec!["1-30-3".to_string()]);
    assert!(c.tags().values().all(|r| r == "1-30-3"), "{:?}", c.tags());

    // Run again: nothing to do.
    ok(&c.run(&b, &["ops/remove-revision.sh", old]), "remove-revision again");
    // Never its own revision.
    let o = c.run(&b, &["ops/remove-revision.sh", "1-30-3"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn an_upgrade_adopts_a_site_installed_before_revision_tags() {
    // Namespaces labelled with the old revision itself, only the default tag.
    let c = Cluster::new(site(&[]));
    c.install(&c.bundle("1.29.6"));
    c.unset("tag-prod-stable");
    c.unset("tag-prod-canary");
    for ns in ["billing", "orders", "shop"] {
        c.set(&format!("ns-{ns}"), "1-29-6");
    }
    let b = c.bundle("1.30.3");
    c.reset_log();
    ok(&c.run(&b, &["ops/upgrade-canary.sh"]), "upgrade");
    let calls = c.calls();
    let adopt = position(&calls, "istioctl tag set prod-stable --revision 1-29-6 -y");
    let install = position(
        &calls,
        &format!(
            "istioctl install -y -f {}/manifests/istio/istio-operator.yaml --set components.ingressGateways[0].enabled=false --set components.egressGateways[0].enabled=false",
            b.display()
        ),
    );
    assert!(adopt < install, "{calls:#?}");
    c.assert_all_on("1-30-3", "after adopting and upgrading");
    assert!(
        c.state("ns-").values().all(|l| l == "prod-stable"),
        "{:?}",
        c.state("ns-")
    );
}

#[test]
fn both_trees_of_each_upgrade_pass_their_own_versions_strict_schemas() {
    for (from, to) in [("1.28.10", "1.29.6"), ("1.29.6", "1.30.3"), ("1.28.10", "1.30.3")] {
        let c = Cluster::new(site(&["orders"]));
        for version in [from, to] {
            let b = c.bundle(version);
            let o = Command::new("python3")
                .arg(repo().join("tests/tools/validate_tree.py"))
                .args(["--kubernetes", "1.34", "--istio", version])
                .arg(&b)
                .output()
                .expect("python3 tests/tools/validate_tree.py (pip install -r tests/requirements.txt)");
            assert!(
                o.status.success(),
                "{from} -> {to}: the {version} tree:\n{}{}",
                text(&o.stdout),
                text(&o.stderr)
            );
            let iop = std::fs::read_to_string(b.join("manifests/istio/istio-operator.yaml")).unwrap();
            assert!(iop.contains(&format!("revision: {}", rev(version))), "{iop}");
        }
    }
}

#[test]
fn repeated_upgrades_keep_every_tag_on_an_installed_revision() {
    let c = Cluster::new(site(&["orders"]));
    let (blue, mid, green) = ("1-30-3-blue", "1-30-3", "1-30-3-green");
    c.install(&c.bundle_named("1.30.3", Some(blue)));
    for (old, new) in [(blue, mid), (mid, green)] {
        let b = c.bundle_named("1.30.3", Some(new));
        ok(&c.run(&b, &["ops/upgrade-canary.sh"]), &format!("upgrade to {new}"));
        c.assert_all_on(new, &format!("after the upgrade to {new}"));
        ok(&c.run(&b, &["ops/remove-revision.sh", old]), &format!("remove {old}"));
        assert_eq!(c.revisions(), vec![new.to_string()]);
        for (tag, rev) in c.tags() {
            assert_eq!(rev, new, "tag {tag} after removing {old}");
        }
        c.assert_all_on(new, &format!("after removing {old}"));
    }
}
