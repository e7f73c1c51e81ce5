//! Upgrade bundles (`build --since previous.mbundle`): what they carry, what
//! their seal says of the bundle they upgrade, the upgrade steps their tree
//! holds, and where `import` takes them.
//!
//! The site moves from the versions of `from_spec` to those of the lab
//! example; both are locked against real servers (a `docker-registry` and a
//! file server, `common::site`) and built into real bundles.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use common::registry::{Containerd, TestRegistry, run, skopeo_digest};
use common::{example, meshbundle, text};
use meshbundle_core::digest::Digest;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::upgrade_from::UpgradeFrom;
use serde_json::Value;

/// The lab example, at other versions.
fn lab_at(kubernetes: &str, istio: &str) -> String {
    let lab = meshbundle_core::examples::example("lab").unwrap();
    assert!(lab.contains("    version: 1.36.5\n") && lab.contains("    version: 1.30.3\n"));
    lab.replace("    version: 1.36.5\n", &format!("    version: {kubernetes}\n"))
        .replace("    version: 1.30.3\n", &format!("    version: {istio}\n"))
}

fn ok(what: &str, o: &Output) {
    assert!(o.status.success(), "{what}: {}{}", text(&o.stdout), text(&o.stderr));
}

fn refused(what: &str, o: &Output) -> String {
    let err = text(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what} must be refused: {}{err}",
        text(&o.stdout)
    );
    err
}

/// The entries of a bundle whose path starts with `prefix`, by path, with their sha256.
fn entries(bundle: &Path, prefix: &str) -> BTreeSet<(String, String)> {
    let seal = seal(bundle);
    seal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["sha256"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(p, _)| p.starts_with(prefix))
        .collect()
}

/// The seal, as the bundle carries it (its first tar entry).
fn seal(bundle: &Path) -> Value {
    let mut a = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut first = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(first.path().unwrap().to_str(), Some("SEAL.json"));
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut first, &mut b).unwrap();
    serde_json::from_slice(&b).unwrap()
}

/// One file of the rendered tree a bundle carries.
fn tree_file(bundle: &Path, path: &str) -> Option<String> {
    let mut a = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(&format!("tree/{path}")) {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            return Some(s);
        }
    }
    None
}

fn blobs(bundle: &Path) -> BTreeSet<String> {
    entries(bundle, "images/blobs/sha256/")
        .into_iter()
        .map(|(p, _)| format!("sha256:{}", p.rsplit('/').next().unwrap()))
        .collect()
}

/// sha256 of every file a bundle carries itself.
fn file_sums(bundle: &Path) -> BTreeSet<String> {
    entries(bundle, "files/").into_iter().map(|(_, s)| s).collect()
}

fn registry_has(reg: &TestRegistry, site_ref: &str) -> bool {
    let (tagged, _) = site_ref.split_once('@').unwrap();
    let at = tagged.replacen("192.168.56.10:5000", &reg.host, 1);
    Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{at}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn an_upgrade_bundle_carries_only_what_the_site_lacks_and_goes_only_where_its_base_is() {
    // Istio 1.29 to 1.30, on Kubernetes 1.35 (the newest Istio 1.29 supports).
    let from_text = lab_at("1.35.9", "1.29.6");
    let to_text = lab_at("1.35.9", "1.30.3");
    let from_site = meshbundle_core::spec::load::load(&from_text).site.unwrap();
    let to_site = meshbundle_core::spec::load::load(&to_text).site.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (sub, spec) in [("from", &from_text), ("to", &to_text)] {
        std::fs::create_dir(d.join(sub)).unwrap();
        std::fs::write(d.join(sub).join("site.yaml"), spec).unwrap();
    }
    ok(
        "secrets",
        &meshbundle(d, &["secrets", "generate", "from/site.yaml", "-o", "site.secrets.yaml"]),
    );
    let cache = d.join("cache");
    let cache = cache.to_str().unwrap();
    let with = |up: &common::site::SiteUpstream, args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--quiet", "--cache", cache]);
        all.extend(up.flags.iter().map(String::as_str));
        meshbundle(d, &all)
    };
    let build = |up: &common::site::SiteUpstream, spec: &str, out: &str, extra: &[&str]| -> String {
        let mut args = vec![
            "build",
            spec,
            "-o",
            out,
            "--locked",
            "--secrets",
            "site.secrets.yaml",
            "--no-private-keys",
            "--format",
            "json",
        ];
        args.extend(extra);
        let o = with(up, &args);
        ok(out, &o);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    // The site as it runs: its own upstream, locked and built in full.
    let up = common::site::serve(&from_site);
    ok("lock from", &with(&up, &["lock", "from/site.yaml"]));
    let base_id = build(&up, "from/site.yaml", "base.mbundle", &[]);
    drop(up);
    // The next release: the new versions' upstream.
    let up = common::site::serve(&to_site);
    ok("lock to", &with(&up, &["lock", "to/site.yaml"]));
    build(&up, "to/site.yaml", "full.mbundle", &[]);
    let delta_id = build(&up, "to/site.yaml", "delta.mbundle", &["--since", "base.mbundle"]);
    // A bundle of another site is no base; neither is a damaged one.
    let mut other = to_text.replace("  name: lab\n", "  name: other-lab\n");
    other = other.replace("description: Single-node lab", "description: Another lab");
    std::fs::write(d.join("other.yaml"), &other).unwrap();
    std::fs::copy(d.join("to/meshbundle.lock"), d.join("meshbundle.lock")).unwrap();
    let o = with(
        &up,
        &[
            "build",
            "other.yaml",
            "-o",
            "x.mbundle",
            "--locked",
            "--since",
            "base.mbundle",
            "--no-private-keys",
        ],
    );
    let err = refused("--since another site's bundle", &o);
    assert!(err.contains("site lab, not of other-lab"), "{err}");
    // One byte changed in the middle of the base's largest entry.
    let (offset, size) = {
        let mut a = tar::Archive::new(std::fs::File::open(d.join("base.mbundle")).unwrap());
        a.entries()
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| (e.raw_file_position(), e.size()))
            .max_by_key(|x| x.1)
            .unwrap()
    };
    let mut damaged = std::fs::read(d.join("base.mbundle")).unwrap();
    damaged[(offset + size / 2) as usize] ^= 1;
    std::fs::write(d.join("damaged.mbundle"), damaged).unwrap();
    let o = with(
        &up,
        &[
            "build",
            "to/site.yaml",
            "-o",
            "y.mbundle",
            "--locked",
            "--since",
            "damaged.mbundle",
            "--no-private-keys",
        ],
    );
    let err = refused("--since a damaged bundle", &o);
    assert!(
        err.contains("damaged.mbundle") && err.contains("content changed"),
        "{err}"
    );
    assert!(!d.join("x.mbundle").exists() && !d.join("y.mbundle").exists());
    drop(up);

    let (base, full, delta) = (d.join("base.mbundle"), d.join("full.mbundle"), d.join("delta.mbundle"));
    // Blobs: none the base carries, and with the base every one the new site needs.
    let (base_blobs, full_blobs, delta_blobs) = (blobs(&base), blobs(&full), blobs(&delta));
    assert!(!delta_blobs.is_empty(), "the new versions' images are new");
    let shared: Vec<_> = delta_blobs.intersection(&base_blobs).collect();
    assert!(
        shared.is_empty(),
        "the upgrade bundle carries blobs the base has: {shared:?}"
    );
    let missing: Vec<_> = full_blobs
        .iter()
        .filter(|b| !base_blobs.contains(*b) && !delta_blobs.contains(*b))
        .collect();
    assert!(
        missing.is_empty(),
        "blobs of the new lock in neither bundle: {missing:?}"
    );
    let delta_seal = seal(&delta);
    for img in delta_seal["images"].as_array().unwrap() {
        for b in img["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .chain(img["blobs"].as_array().unwrap())
        {
            let b = b.as_str().unwrap();
            assert!(
                base_blobs.contains(b) || delta_blobs.contains(b),
                "{b} of {}",
                img["name"]
            );
        }
    }
    let kept: BTreeSet<String> = delta_seal["base"]["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    assert!(
        !kept.is_empty() && kept.is_subset(&base_blobs),
        "the seal lists what comes from the base, all of it in the base"
    );
    // Images shared by the two releases (pause, etcd, CoreDNS, the addons) come whole from the base.
    let base_images: BTreeSet<String> = seal(&base)["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["site"].as_str().unwrap().to_string())
        .collect();
    let unchanged: Vec<&Value> = delta_seal["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| base_images.contains(i["site"].as_str().unwrap()))
        .collect();
    assert!(!unchanged.is_empty());
    for img in &unchanged {
        assert!(
            !delta_blobs.contains(img["digest"].as_str().unwrap()),
            "{} is carried again",
            img["site"]
        );
    }
    // Files: the new release's istioctl and addon manifests, none the base has;
    // Kubernetes' binaries are the same release, all from the base.
    let (base_files, full_files, delta_files) = (file_sums(&base), file_sums(&full), file_sums(&delta));
    assert!(delta_files.is_disjoint(&base_files));
    assert!(
        full_files
            .iter()
            .all(|f| base_files.contains(f) || delta_files.contains(f))
    );
    let carried: BTreeSet<String> = entries(&delta, "files/").into_iter().map(|(p, _)| p).collect();
    assert!(
        carried.contains("files/istioctl-amd64") && !carried.contains("files/kubeadm-amd64"),
        "{carried:?}"
    );
    // The size, against the full bundle of the same spec.
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    eprintln!(
        "Istio 1.29.6 -> 1.30.3: full bundle {} bytes, upgrade bundle {} bytes ({} of {} blobs)",
        size(&full),
        size(&delta),
        delta_blobs.len(),
        full_blobs.len()
    );
    assert!(size(&delta) < size(&full));

    // The seal names the verified base and the versions it runs.
    let b = &delta_seal["base"];
    assert_eq!(b["id"], base_id.as_str());
    assert_eq!(b["from"]["bundle"], base_id.as_str());
    assert_eq!(b["from"]["kubernetes"], "1.35.9");
    assert_eq!(b["from"]["istio"], "1.29.6");
    assert_eq!(b["from"]["revision"], "1-29-6");
    assert!(seal(&full).get("base").is_none());
    // The tree holds the steps of exactly this upgrade; a plain bundle has none.
    assert!(tree_file(&full, "ops/UPGRADE.md").is_none());
    let notes = tree_file(&delta, "ops/UPGRADE.md").expect("ops/UPGRADE.md");
    assert!(notes.contains(&format!("from bundle `{base_id}`")), "{notes}");
    assert!(
        notes.contains("| Istio | 1.29.6 (revision `1-29-6`) | 1.30.3 (revision `1-30-3`) |"),
        "{notes}"
    );
    assert!(
        notes.contains("Istio 1.29.6 → 1.30.3 (revision 1-29-6 → 1-30-3)"),
        "{notes}"
    );
    assert!(
        notes.contains("`ops/remove-revision.sh 1-29-6`") && !notes.contains("upgrade-kubernetes"),
        "{notes}"
    );
    // Verify says it is differential, and of what.
    let o = meshbundle(d, &["verify", "delta.mbundle", "--quiet"]);
    ok("verify", &o);
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("differential: completes bundle {base_id}"))
            && out.contains("upgrade from Kubernetes 1.35.9, containerd 2.2.3, Istio 1.29.6 (revision 1-29-6)"),
        "{out}"
    );

    // Import refuses it at every target that lacks its base, before writing anything.
    let reg = TestRegistry::start(None);
    let ctrd = Containerd::start(false);
    let sock = ctrd.socket.to_str().unwrap().to_string();
    let import = |bundle: &str, extra: &[&str]| {
        let mut all = vec!["import", bundle, "--quiet", "--insecure", &reg.host];
        all.extend(extra);
        meshbundle(d, &all)
    };
    let names_base = |what: &str, err: &str| {
        assert!(
            err.contains(&format!("from bundle {base_id}"))
                && err.contains(&format!("import the base bundle {base_id}")),
            "{what}: {err}"
        );
        assert!(err.contains("nothing was imported"), "{what}: {err}");
    };
    let images_in_ctr = || {
        text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls", "-q"]).stdout)
            .lines()
            .count()
    };
    let delta_images: Vec<String> = delta_seal["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["site"].as_str().unwrap().to_string())
        .collect();
    names_base(
        "registry",
        &refused("registry", &import("delta.mbundle", &["--registry", &reg.host])),
    );
    assert!(delta_images.iter().all(|i| !registry_has(&reg, i)), "nothing pushed");
    names_base(
        "containerd",
        &refused("containerd", &import("delta.mbundle", &["--containerd", &sock])),
    );
    assert_eq!(images_in_ctr(), 0, "nothing loaded");
    names_base(
        "new directory",
        &refused("extract", &import("delta.mbundle", &["--extract", "site"])),
    );
    assert!(!d.join("site").exists());
    // A directory laid out by another bundle (here the full one of the new release) does not hold the base.
    ok("full", &import("full.mbundle", &["--extract", "other"]));
    let err = refused(
        "extract over another bundle",
        &import("delta.mbundle", &["--extract", "other"]),
    );
    names_base("another bundle's layout", &err);
    assert!(err.contains(&format!("it holds bundle {}", seal_id(&full))), "{err}");
    // One target holding the base is not enough: the others are checked before it is touched.
    ok("base extract", &import("base.mbundle", &["--extract", "site"]));
    let err = refused(
        "extract and registry",
        &import("delta.mbundle", &["--extract", "site", "--registry", &reg.host]),
    );
    names_base("extract and registry", &err);
    assert_eq!(
        std::fs::read_to_string(d.join("site/.meshbundle")).unwrap().trim(),
        base_id,
        "the extraction was left as it was"
    );
    assert!(!d.join("site/ops/UPGRADE.md").exists());
    let err = refused(
        "extract and containerd",
        &import("delta.mbundle", &["--extract", "site", "--containerd", &sock]),
    );
    names_base("extract and containerd", &err);
    assert!(!d.join("site/ops/UPGRADE.md").exists());

    // Where the base is, it imports, and the site then holds every image and file of the new release.
    ok(
        "base",
        &import("base.mbundle", &["--registry", &reg.host, "--containerd", &sock]),
    );
    let o = import(
        "delta.mbundle",
        &[
            "--extract",
            "site",
            "--registry",
            &reg.host,
            "--containerd",
            &sock,
            "--format",
            "json",
        ],
    );
    ok("delta", &o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["base"], base_id.as_str());
    assert!(
        text(&o.stderr).contains(&format!("bundle {base_id} is in place")),
        "{}",
        text(&o.stderr)
    );
    for img in delta_seal["images"].as_array().unwrap() {
        let site = img["site"].as_str().unwrap();
        let (tagged, digest) = site.split_once('@').unwrap();
        let at = tagged.replacen("192.168.56.10:5000", &reg.host, 1);
        assert_eq!(skopeo_digest(&at, None), digest, "{at}");
    }
    let ls = text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls"]).stdout);
    for site in &delta_images {
        let (tagged, digest) = site.split_once('@').unwrap();
        assert!(
            ls.lines()
                .any(|l| l.starts_with(&format!("{tagged} ")) && l.contains(digest)),
            "{tagged} in:\n{ls}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(d.join("site/.meshbundle")).unwrap().trim(),
        delta_id
    );
    assert_eq!(std::fs::read_to_string(d.join("site/ops/UPGRADE.md")).unwrap(), notes);
    for f in delta_seal["files"].as_array().unwrap() {
        let p = d.join("site/files").join(f["name"].as_str().unwrap());
        let got = run(Command::new("sha256sum").arg(&p));
        assert_eq!(
            got.split_whitespace().next().unwrap(),
            f["sha256"].as_str().unwrap(),
            "{}",
            p.display()
        );
    }
    // Run again, it finds its own layout and imports again.
    ok("delta again", &import("delta.mbundle", &["--extract", "site"]));
}

fn seal_id(bundle: &Path) -> String {
    let mut a = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let mut e = a.entries().unwrap().nth(1).unwrap().unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(&mut e, &mut s).unwrap();
    s.trim().to_string()
}

/// The UPGRADE.md of the production site moving from `from` to the example.
fn notes(from: &meshbundle_core::spec::Site, to: &meshbundle_core::spec::Site) -> String {
    let up = UpgradeFrom::of_site(from, Digest::of(b"previous bundle")).unwrap();
    let tree = render(
        to,
        &Inputs {
            upgrade_from: Some(&up),
            ..Default::default()
        },
    )
    .unwrap();
    tree.get("ops/UPGRADE.md")
        .map(|f| String::from_utf8(f.bytes.clone()).unwrap())
        .expect("ops/UPGRADE.md")
}

/// Where in `text` each needle first appears; all must.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"))
}

#[test]
fn the_upgrade_steps_name_each_node_in_order_from_the_previous_versions() {
    let to = example("production");
    // A plain render has no upgrade steps.
    assert!(render(&to, &Inputs::default()).unwrap().get("ops/UPGRADE.md").is_none());

    // Kubernetes one minor up with containerd 1.7 -> 2.x.
    let mut from = to.clone();
    from.spec.kubernetes.version = "1.35.9".into();
    from.spec.containerd.version = "1.7.27".into();
    let n = notes(&from, &to);
    assert!(
        n.contains(&format!("from bundle `{}`", Digest::of(b"previous bundle"))),
        "{n}"
    );
    assert!(
        n.contains("| Kubernetes | 1.35.9 | 1.36.5 |") && n.contains("| containerd | 1.7.27 | 2.2.3 |"),
        "{n}"
    );
    assert!(
        n.contains("containerd moves from 1.7.27 to 2.2.3") && n.contains("restarts containerd, then kubelet"),
        "{n}"
    );
    let cps: Vec<&str> = to.control_plane_nodes().map(|x| x.name.as_str()).collect();
    let workers: Vec<&str> = to.worker_nodes().map(|x| x.name.as_str()).collect();
    assert!(cps.len() > 1 && !workers.is_empty());
    let first = to.first_control_plane().unwrap().name.as_str();
    assert_eq!(cps[0], first);
    // Backup, import, then the first control-plane node, the others, the workers; each once.
    let steps = &n[at(&n, "In this order")..];
    let mut last = 0;
    for name in cps.iter().chain(&workers) {
        let line = format!("`{name}` (");
        assert_eq!(steps.matches(&line).count(), 1, "{name} once:\n{steps}");
        let i = at(steps, &line);
        assert!(i > last || last == 0, "{name} out of order:\n{steps}");
        last = i;
    }
    for name in cps.iter().chain(&workers).filter(|x| **x != first) {
        assert!(
            steps.contains(&format!(
                "`sudo ./nodes/{name}/upgrade.sh` on it, `kubeadm upgrade node`"
            )),
            "{name}:\n{steps}"
        );
    }
    assert_eq!(steps.matches("kubeadm upgrade apply").count(), 1, "{steps}");
    let apply_line = steps.lines().find(|l| l.contains("kubeadm upgrade apply")).unwrap();
    assert!(apply_line.contains(&format!("`{first}`")), "{apply_line}");
    assert!(
        at(&n, "ops/backup.sh") < at(&n, "meshbundle import NEW.mbundle")
            && at(&n, "meshbundle import NEW.mbundle") < at(&n, "In this order")
    );
    assert!(!n.contains("upgrade-canary"), "Istio does not change: {n}");

    // Istio alone: a canary from the old revision, removed last.
    let mut from = to.clone();
    from.spec.istio.version = "1.29.6".into();
    from.spec.istio.revision = Some("1-29-6".into());
    let n = notes(&from, &to);
    assert!(!n.contains("ops/upgrade-kubernetes.sh"), "{n}");
    let canary = at(&n, "`ops/upgrade-canary.sh`");
    assert!(n.contains("`ops/rollback-canary.sh` of the previous bundle's"), "{n}");
    assert!(n.contains("revision 1-29-6 → 1-30-3"), "{n}");
    assert!(
        canary < at(&n, "ops/rollback-canary.sh")
            && at(&n, "ops/rollback-canary.sh") < at(&n, "`ops/remove-revision.sh 1-29-6`"),
        "{n}"
    );

    // Both: whichever move keeps a supported pair goes first. Kubernetes
    // first when the running Istio supports the new Kubernetes, else Istio
    // first (the new Istio supports the running Kubernetes 1.35).
    let mut from = to.clone();
    from.spec.kubernetes.version = "1.35.9".into();
    from.spec.containerd.version = "1.7.27".into();
    from.spec.istio.version = "1.29.6".into();
    let n = notes(&from, &to);
    let old_supports_new = meshbundle_core::catalog::catalog().istio("1.29.6").is_some_and(|r| {
        let minor = |s: &str| s.split('.').nth(1).unwrap().parse::<u32>().unwrap();
        minor(&r.kubernetes.min) <= 36 && 36 <= minor(&r.kubernetes.max)
    });
    let (canary, kube) = (
        at(&n, "`ops/upgrade-canary.sh`"),
        at(&n, "`sudo ops/upgrade-kubernetes.sh`"),
    );
    assert_eq!(kube < canary, old_supports_new, "{n}");
    // No version change: configuration only.
    let n = notes(&to, &to);
    assert!(
        n.contains("No version changes") && n.contains("./install.sh cluster") && !n.contains("upgrade-kubernetes"),
        "{n}"
    );
}
