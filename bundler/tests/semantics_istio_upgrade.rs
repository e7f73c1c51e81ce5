//! Istio revisions over a site's life: the first install, canary upgrades and
//! the removal of old revisions, run for real under bash from bundles of
//! successive revisions, against kubectl and istioctl stubs that keep the
//! cluster's state (installed revisions, revision tags, namespace labels)
//! the way the cluster would. What matters: the `default` revision tag, which
//! decides the istiod that validates Istio configuration, always points at a
//! revision that is installed, and a revision is never removed while a tag
//! or a namespace still uses it.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};

/// kubectl and istioctl, keeping state in `$MB_STATE`: `rev-R` per installed
/// revision, `tag-T` holding the revision tag T points at, `ns-N` holding
/// namespace N's `istio.io/rev`. Every call is logged to `$MB_LOG`.
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
case "$name" in
  istioctl)
    case "$1" in
      version) echo "client version: 1.30.3" ;;
      install)
        file=$(arg_after -f "$@")
        rev=$(sed -n 's/^  revision: *//p' "$file" | tr -d "\"'")
        touch "$st/rev-$rev"
        ;;
      uninstall)
        rev=$(arg_after --revision "$@")
        [[ -e "$st/rev-$rev" ]] || { echo "no revision $rev" >&2; exit 1; }
        rm -f "$st/rev-$rev"
        ;;
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
        fi
        ;;
    esac
    ;;
  kubectl)
    all="$*"
    case "$all" in
      *"get deployments -l app=istiod"*)
        for f in "$st"/rev-*; do [[ -e "$f" ]] && echo "${f##*/rev-}"; done
        ;;
      *"get mutatingwebhookconfigurations -l istio.io/tag,istio.io/rev="*)
        rev=${all##*istio.io/rev=}
        rev=${rev%% *}
        for f in "$st"/tag-*; do [[ -e "$f" && "$(cat "$f")" == "$rev" ]] && echo "${f##*/tag-}"; done
        ;;
      *"get mutatingwebhookconfigurations -l istio.io/tag=default "*)
        [[ -e "$st/tag-default" ]] && printf '%s' "$(cat "$st/tag-default")"
        ;;
      *"get mutatingwebhookconfigurations -l istio.io/tag "*)
        for f in "$st"/tag-*; do [[ -e "$f" ]] && echo "${f##*/tag-}=$(cat "$f")"; done
        ;;
      *"get namespaces -l istio.io/rev="*)
        rev=${all##*istio.io/rev=}
        rev=${rev%% *}
        for f in "$st"/ns-*; do [[ -e "$f" && "$(cat "$f")" == "$rev" ]] && echo "namespace/${f##*/ns-}"; done
        ;;
      "label namespace "*)
        echo "${4#istio.io/rev=}" >"$st/ns-$3"
        ;;
      "apply "*"/manifests/namespaces.yaml")
        file=${all##* }
        awk -v st="$st" '
          /^  name: / { name = $2 }
          /^    istio.io\/rev: / { rev = $2; gsub(/["\047]/, "", rev); print rev > (st "/ns-" name) }
        ' "$file"
        ;;
      *"get peerauthentication"*) printf STRICT ;;
      # HEALTHY CLUSTER
        esac
    ;;
esac
exit 0
"#;

struct Cluster {
    dir: tempfile::TempDir,
    state: PathBuf,
    log: PathBuf,
    stubs: PathBuf,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in ["kubectl", "istioctl"] {
            let p = stubs.join(s);
            std::fs::write(&p, STUB.replace("      # HEALTHY CLUSTER\n", &common::cluster::healthy_cluster_arms(&example("production"))))
                .unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("calls.log");
        Cluster { dir, state, log, stubs }
    }

    /// A bundle of the production site at Istio revision `revision`.
    fn bundle(&self, revision: &str) -> PathBuf {
        let mut site = example("production");
        site.spec.istio.revision = Some(revision.into());
        let secrets =
            meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap())
                .unwrap();
        let tree = render(&site, &Inputs { secrets: Some(&secrets), ..Default::default() }).unwrap();
        let out = self.dir.path().join(format!("bundle-{revision}"));
        write_tree(&tree, &out);
        out
    }

    fn run(&self, bundle: &Path, args: &[&str]) -> Output {
        let sysroot = self.dir.path().join("root");
        std::fs::create_dir_all(&sysroot).unwrap();
        Command::new("bash")
            .args(args)
            .current_dir(bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.stubs.display()))
            .env("HOME", &sysroot)
            .env("MESHBUNDLE_SYSROOT", &sysroot)
            .env("MB_LOG", &self.log)
            .env("MB_STATE", &self.state)
            .env("TIMEOUT", "1s")
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
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
                out.insert(key.to_string(), std::fs::read_to_string(e.path()).unwrap().trim().to_string());
            }
        }
        out
    }

    fn revisions(&self) -> Vec<String> {
        self.state("rev-").into_keys().collect()
    }

    fn tags(&self) -> BTreeMap<String, String> {
        self.state("tag-")
    }

    /// Every revision tag points at an installed revision, and the default
    /// tag at `expected`.
    fn assert_tags(&self, expected: &str, when: &str) {
        let tags = self.tags();
        assert_eq!(tags.get("default").map(String::as_str), Some(expected), "{when}: default tag in {tags:?}");
        let revs = self.revisions();
        for (tag, rev) in &tags {
            assert!(revs.contains(rev), "{when}: tag {tag} points at {rev}, which is not installed ({revs:?})");
        }
    }
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), text(&o.stdout), text(&o.stderr));
}

fn position(calls: &[String], call: &str) -> usize {
    calls.iter().position(|c| c == call).unwrap_or_else(|| panic!("no call `{call}` in {calls:#?}"))
}

#[test]
fn istio_default_tag_follows_the_revision_through_repeated_upgrades() {
    let c = Cluster::new();
    let (blue, mid, green) = ("1-30-3-blue", "1-30-3", "1-30-3-green");

    // First install: the revision is installed and made the default.
    let first = c.bundle(blue);
    ok(&c.run(&first, &["install.sh", "cluster"]), "install.sh cluster");
    let calls = c.calls();
    let install = position(&calls, &format!("istioctl install -y -f {}/manifests/istio/istio-operator.yaml", first.display()));
    let tag = position(&calls, &format!("istioctl tag set default --revision {blue} --overwrite -y"));
    assert!(install < tag, "the tag needs the revision's istiod: {calls:#?}");
    assert_eq!(c.state("ns-").get("shop").map(String::as_str), Some(blue));
    c.assert_tags(blue, "after the first install");

    // Two canary upgrades in a row, each followed by the removal of the old revision.
    for (old, new) in [(blue, mid), (mid, green)] {
        let bundle = c.bundle(new);
        c.reset_log();
        let o = c.run(&bundle, &["ops/upgrade-canary.sh"]);
        ok(&o, "upgrade-canary");
        assert!(text(&o.stdout).contains(&format!("remove-revision.sh {old}")), "{}", text(&o.stdout));
        c.assert_tags(new, &format!("after the upgrade to {new}"));
        assert_eq!(c.state("ns-").get("shop").map(String::as_str), Some(new));

        let o = c.run(&bundle, &["ops/remove-revision.sh", old]);
        ok(&o, "remove-revision");
        let calls = c.calls();
        let canary = position(
            &calls,
            &format!(
                "istioctl install -y -f {}/manifests/istio/istio-operator.yaml --set components.ingressGateways[0].enabled=false --set components.egressGateways[0].enabled=false",
                bundle.display()
            ),
        );
        let tag = position(&calls, &format!("istioctl tag set default --revision {new} --overwrite -y"));
        let uninstall = position(&calls, &format!("istioctl uninstall -y --revision {old}"));
        assert!(canary < tag && tag < uninstall, "the default tag moves to {new} before {old} goes: {calls:#?}");
        assert_eq!(c.revisions(), vec![new.to_string()]);
        c.assert_tags(new, &format!("after removing {old}"));
    }
}

#[test]
fn istio_remove_revision_refuses_while_a_tag_points_at_it() {
    for tag in ["default", "prod-stable"] {
        let c = Cluster::new();
        let (old, new) = ("1-30-3-blue", "1-30-3");
        let bundle = c.bundle(new);
        // Both revisions installed, the namespaces moved, but `tag` still on the old one.
        std::fs::write(c.state.join(format!("rev-{old}")), "").unwrap();
        std::fs::write(c.state.join(format!("rev-{new}")), "").unwrap();
        std::fs::write(c.state.join("ns-shop"), new).unwrap();
        std::fs::write(c.state.join(format!("tag-{tag}")), old).unwrap();

        let o = c.run(&bundle, &["ops/remove-revision.sh", old]);
        assert_eq!(o.status.code(), Some(1), "{tag}: must refuse\n{}{}", text(&o.stdout), text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(tag) && err.contains("istioctl tag set"), "{tag}: says which tag and what to do: {err}");
        assert!(!c.calls().iter().any(|l| l.starts_with("istioctl uninstall")), "{tag}: nothing uninstalled: {:#?}", c.calls());
        assert!(c.revisions().contains(&old.to_string()));

        // verify.sh reports a default tag left on another revision.
        if tag == "default" {
            let o = c.run(&bundle, &["ops/verify.sh"]);
            assert_eq!(o.status.code(), Some(1), "verify must fail\n{}{}", text(&o.stdout), text(&o.stderr));
            assert!(text(&o.stderr).contains(&format!("the default revision tag points at {old}")), "{}", text(&o.stderr));
        }

        // Once the tag is moved, the removal goes ahead.
        std::fs::write(c.state.join(format!("tag-{tag}")), new).unwrap();
        ok(&c.run(&bundle, &["ops/remove-revision.sh", old]), "remove-revision after the tag moved");
        assert_eq!(c.revisions(), vec![new.to_string()]);
    }
}
