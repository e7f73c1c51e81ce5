//! `meshbundle upgrade plan`: the exit status and what the plan says, from
//! specs and locks and from a real previous bundle built against the local
//! test registry.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::{repo, text};
use serde_json::Value;

fn mb(dir: &Path, args: &[&str]) -> Output {
    // No trust policy from the machine running the tests.
    Command::new(common::bin())
        .args(args)
        .current_dir(dir)
        .env("MESHBUNDLE_CONFIG_DIR", dir.join("no-config"))
        .env_remove("MESHBUNDLE_TRUSTED_KEYS")
        .output()
        .unwrap()
}

/// The production example at other versions.
fn production(k8s: &str, containerd: &str, istio: &str) -> String {
    std::fs::read_to_string(repo().join("core/examples/production.yaml"))
        .unwrap()
        .replace("    version: 1.36.5\n", &format!("    version: {k8s}\n"))
        .replace("    version: 2.2.3\n", &format!("    version: {containerd}\n"))
        .replace("    version: 1.30.3\n", &format!("    version: {istio}\n"))
}

const EMPTY_LOCK: &str = "apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\n";

/// Plans from `old` to `new` (spec texts), with the site's lock empty.
fn plan(old: &str, new: &str, format: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("old.yaml"), old).unwrap();
    std::fs::write(d.join("old.lock"), EMPTY_LOCK).unwrap();
    std::fs::write(d.join("new.yaml"), new).unwrap();
    mb(
        d,
        &[
            "upgrade",
            "plan",
            "--from-spec",
            "old.yaml",
            "--from-lock",
            "old.lock",
            "new.yaml",
            "--format",
            format,
            "--cache",
            "cache",
        ],
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&o.stdout), text(&o.stderr)))
}

/// `(node, action)` of each step, in order.
fn steps(p: &Value) -> Vec<(String, String)> {
    p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["node"].as_str().unwrap_or("").to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn at(s: &[(String, String)], node: &str, action: &str) -> usize {
    s.iter()
        .position(|(n, a)| n == node && a == action)
        .unwrap_or_else(|| panic!("no {action} on {node}: {s:#?}"))
}

const CPS: [&str; 3] = ["cp-1", "cp-2", "cp-3"];
const WORKERS: [&str; 3] = ["worker-1", "worker-2", "worker-3"];

#[test]
fn kubernetes_1_33_to_1_34_is_allowed_with_the_control_plane_first_node_by_node() {
    let o = plan(
        &production("1.33.13", "2.2.3", "1.30.3"),
        &production("1.34.12", "2.2.3", "1.30.3"),
        "json",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let p = json(&o);
    assert_eq!(p["kind"], "UpgradePlan");
    assert_eq!(p["allowed"], true);
    let s = steps(&p);
    let applies: Vec<_> = s.iter().filter(|x| x.1 == "kubeadm-upgrade-apply").collect();
    assert_eq!(applies.len(), 1);
    assert_eq!(applies[0].0, "cp-1");
    assert!(at(&s, "cp-1", "etcd-snapshot") < at(&s, "cp-1", "kubeadm-upgrade-apply"));
    let cp_done = CPS.iter().map(|n| at(&s, n, "uncordon")).max().unwrap();
    for w in WORKERS {
        assert!(at(&s, w, "drain") > cp_done, "{w} waits for the control plane");
        assert!(at(&s, w, "kubeadm-upgrade-node") < at(&s, w, "kubelet"));
    }
    for n in CPS.iter().chain(&WORKERS) {
        assert!(
            at(&s, n, "drain") < at(&s, n, "kubelet") && at(&s, n, "kubelet") < at(&s, n, "uncordon"),
            "{n}"
        );
    }
    let apply = &p["steps"][at(&s, "cp-1", "kubeadm-upgrade-apply")];
    assert!(
        apply["text"]
            .as_str()
            .unwrap()
            .contains("kubeadm upgrade apply v1.34.12"),
        "{apply}"
    );
    let runs: Vec<&str> = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|st| st["run"].as_str())
        .collect();
    assert!(
        runs.contains(&"sudo ops/upgrade-kubernetes.sh")
            && runs.contains(&"sudo ./nodes/worker-1/upgrade.sh   # on worker-1, when ops/upgrade-kubernetes.sh asks"),
        "{runs:?}"
    );
}

#[test]
fn kubernetes_1_33_to_1_35_is_refused_naming_1_34() {
    let o = plan(
        &production("1.33.13", "2.2.3", "1.30.3"),
        &production("1.35.9", "2.2.3", "1.30.3"),
        "text",
    );
    assert_eq!(o.status.code(), Some(1), "refused: exit 1\n{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("REFUSED"), "{out}");
    assert!(
        out.contains("go through 1.34.x first: upgrade to 1.34.12, then to 1.35.9"),
        "{out}"
    );
    assert!(!out.contains("\nsteps\n"), "no steps for a refused path: {out}");
    let p = json(&plan(
        &production("1.33.13", "2.2.3", "1.30.3"),
        &production("1.35.9", "2.2.3", "1.30.3"),
        "json",
    ));
    assert_eq!(p["allowed"], false);
    assert_eq!(p["refusals"][0]["via"], "1.34.12");
}

#[test]
fn istio_1_28_to_1_31_is_refused_naming_the_path_and_1_28_to_1_30_is_allowed() {
    // 1.31 is in no catalog yet: the spec still reads, and the refusal says both.
    let o = plan(
        &production("1.33.13", "2.2.3", "1.28.10"),
        &production("1.33.13", "2.2.3", "1.31.0"),
        "text",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("Istio 1.28.10 → 1.31.0 crosses 3 minors"), "{out}");
    assert!(out.contains("not in this meshbundle's catalog"), "{out}");
    assert!(out.contains("go through 1.30.3 first"), "{out}");

    let o = plan(
        &production("1.33.13", "2.2.3", "1.28.10"),
        &production("1.33.13", "2.2.3", "1.30.3"),
        "json",
    );
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let p = json(&o);
    let s = steps(&p);
    let canary = s.iter().position(|x| x.1 == "istio-canary").unwrap();
    let remove = s.iter().position(|x| x.1 == "remove-revision").unwrap();
    assert!(canary < remove && remove == s.len() - 1);
    assert_eq!(p["steps"][remove]["run"], "sudo ops/remove-revision.sh 1-28-10");
    assert_eq!(p["steps"][canary]["run"], "sudo ops/upgrade-canary.sh");
}

#[test]
fn kubernetes_1_35_to_1_36_with_containerd_2_migrates_the_configuration_first() {
    let o = plan(
        &production("1.35.9", "1.7.27", "1.30.3"),
        &production("1.36.5", "2.2.3", "1.30.3"),
        "json",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let p = json(&o);
    let s = steps(&p);
    for n in CPS.iter().chain(&WORKERS) {
        let c = at(&s, n, "containerd");
        assert!(
            at(&s, n, "drain") < c && c < at(&s, n, "kubelet"),
            "{n}: containerd before its kubelet"
        );
        let t = p["steps"][c]["text"].as_str().unwrap();
        assert!(
            t.contains("1.7.27 → 2.2.3") && t.contains("from version 2 to version 3"),
            "{t}"
        );
    }
    assert!(
        p["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["component"] == "containerd" && c["kind"] == "major")
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = mb(dir.path(), &["upgrade", "plan", "new.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = mb(
        dir.path(),
        &[
            "upgrade",
            "plan",
            "--from",
            "a.mbundle",
            "--from-spec",
            "b.yaml",
            "--from-lock",
            "c.lock",
            "new.yaml",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = mb(dir.path(), &["upgrade", "plan", "--help"]);
    assert!(text(&o.stdout).contains("Exit status: 0 when the path is allowed, 1 when it is refused"));
}

fn lab(k8s: &str, containerd: &str) -> String {
    std::fs::read_to_string(repo().join("core/examples/lab.yaml"))
        .unwrap()
        .replace(
            "  kubernetes:\n    version: 1.36.5\n",
            &format!("  kubernetes:\n    version: {k8s}\n  containerd:\n    version: {containerd}\n"),
        )
}

fn seal(path: &Path) -> Value {
    common::forge::seal_of(path)
}

/// Blobs of a bundle's image layout, by digest, with sizes.
fn bundle_blobs(path: &Path) -> std::collections::BTreeMap<String, u64> {
    seal(path)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = e["path"].as_str()?;
            p.strip_prefix("images/blobs/sha256/")
                .map(|h| (format!("sha256:{h}"), e["size"].as_u64().unwrap()))
        })
        .collect()
}

#[test]
fn a_plan_from_a_real_previous_bundle_lists_what_the_new_bundle_carries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (old_text, new_text) = (lab("1.35.9", "1.7.27"), lab("1.36.5", "2.2.3"));
    let load = |t: &str| meshbundle_core::spec::load::load(t).site.unwrap();
    let (old_site, new_site) = (load(&old_text), load(&new_text));
    std::fs::create_dir_all(d.join("old")).unwrap();
    std::fs::create_dir_all(d.join("new")).unwrap();
    std::fs::write(d.join("old/site.yaml"), &old_text).unwrap();
    std::fs::write(d.join("new/site.yaml"), &new_text).unwrap();
    let run = |args: &[&str], up: &common::site::SiteUpstream| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        let o = mb(d, &all);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    {
        let up = common::site::serve(&old_site);
        run(&["lock", "old/site.yaml", "--quiet", "--cache", "cache"], &up);
        run(
            &[
                "build",
                "old/site.yaml",
                "--locked",
                "--quiet",
                "--cache",
                "cache",
                "-o",
                "old.mbundle",
            ],
            &up,
        );
    }
    let up = common::site::serve(&new_site);
    run(&["lock", "new/site.yaml", "--quiet", "--cache", "new-cache"], &up);

    // Before the new images are pulled: digests from the lock, image bytes known after build.
    let o = mb(
        d,
        &[
            "upgrade",
            "plan",
            "--from",
            "old.mbundle",
            "new/site.yaml",
            "--format",
            "json",
            "--cache",
            "new-cache",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let p = json(&o);
    assert!(
        text(&o.stderr).contains("old.mbundle: verified"),
        "the bundle is verified first: {}",
        text(&o.stderr)
    );
    let old_seal = seal(&d.join("old.mbundle"));
    assert_eq!(p["carry"]["since"].as_str().unwrap().len(), "sha256:".len() + 64);
    let images = p["carry"]["images"].as_array().unwrap();
    let state = |name: &str| {
        images
            .iter()
            .find(|i| i["name"] == name)
            .map(|i| i["state"].as_str().unwrap().to_string())
    };
    assert_eq!(
        state("registry.k8s.io/kube-apiserver:v1.36.5").as_deref(),
        Some("added")
    );
    assert_eq!(
        state("registry.k8s.io/kube-apiserver:v1.35.9").as_deref(),
        Some("removed")
    );
    assert_eq!(state("docker.io/istio/pilot:1.30.3").as_deref(), Some("unchanged"));
    let new_lock =
        meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("new/meshbundle.lock")).unwrap()).unwrap();
    let apiserver = images
        .iter()
        .find(|i| i["name"] == "registry.k8s.io/kube-apiserver:v1.36.5")
        .unwrap();
    assert_eq!(
        apiserver["digest"],
        new_lock
            .image(&"registry.k8s.io/kube-apiserver:v1.36.5".parse().unwrap())
            .unwrap()
            .site_digest()
            .to_string()
    );
    assert!(
        p["carry"]["size"].get("images").is_none(),
        "not known before the images are pulled"
    );
    assert!(
        p["carry"]["size"]["knownAfterBuild"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "registry.k8s.io/kube-apiserver:v1.36.5")
    );
    // Files: sized from the new lock; carried only when the old bundle lacks their sha256.
    let old_shas: BTreeSet<String> = old_seal["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sha256"].as_str().unwrap().to_string())
        .collect();
    let expect_files: u64 = new_lock
        .files
        .iter()
        .filter(|f| !old_shas.contains(f.sha256.hex()))
        .map(|f| f.size)
        .sum();
    assert_eq!(p["carry"]["size"]["files"].as_u64(), Some(expect_files));

    // Once the new images are in the cache (here by building the new bundle), their bytes are known:
    // exactly the blobs of the new bundle that the old one lacks.
    run(
        &[
            "build",
            "new/site.yaml",
            "--locked",
            "--quiet",
            "--cache",
            "new-cache",
            "-o",
            "new.mbundle",
        ],
        &up,
    );
    let o = mb(
        d,
        &[
            "upgrade",
            "plan",
            "--from",
            "old.mbundle",
            "new/site.yaml",
            "--format",
            "json",
            "--cache",
            "new-cache",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let p = json(&o);
    let (old_blobs, new_blobs) = (
        bundle_blobs(&d.join("old.mbundle")),
        bundle_blobs(&d.join("new.mbundle")),
    );
    let expect_images: u64 = new_blobs
        .iter()
        .filter(|(k, _)| !old_blobs.contains_key(*k))
        .map(|(_, s)| s)
        .sum();
    assert!(expect_images > 0);
    assert_eq!(
        p["carry"]["size"]["images"].as_u64(),
        Some(expect_images),
        "{}",
        p["carry"]
    );
    assert_eq!(p["carry"]["size"]["total"].as_u64(), Some(expect_images + expect_files));
    assert_eq!(p["carry"]["size"]["atMost"], false);

    // The text says the same for people.
    let o = mb(
        d,
        &[
            "upgrade",
            "plan",
            "--from",
            "old.mbundle",
            "new/site.yaml",
            "--cache",
            "new-cache",
        ],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("added     registry.k8s.io/kube-apiserver:v1.36.5"),
        "{out}"
    );
    assert!(out.contains("size as a differential bundle (build --since): "), "{out}");

    // A damaged bundle is not planned from.
    let mut bytes = std::fs::read(d.join("old.mbundle")).unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(d.join("old.mbundle")).unwrap());
    let at = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().starts_with("tree/") && e.size() > 0)
        .map(|e| e.raw_file_position() as usize)
        .unwrap();
    bytes[at] ^= 1;
    std::fs::write(d.join("bad.mbundle"), &bytes).unwrap();
    let o = mb(
        d,
        &[
            "upgrade",
            "plan",
            "--from",
            "bad.mbundle",
            "new/site.yaml",
            "--cache",
            "new-cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        o.stdout.is_empty(),
        "no plan from an unverified bundle: {}",
        text(&o.stdout)
    );
}
