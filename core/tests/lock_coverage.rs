//! A lock must cover what the spec needs: rendering with one that lacks an
//! image or a file, or pins a file for another URL, is refused and names
//! each gap, instead of leaving some references by tag only.

use meshbundle_core::catalog::needs;
use meshbundle_core::examples::example;
use meshbundle_core::lock::{self, Lock};
use meshbundle_core::render::{Inputs, RenderError, render};
use meshbundle_core::spec::Site;
use meshbundle_core::spec::load::load;

fn site() -> Site {
    load(example("production").unwrap()).site.unwrap()
}

fn full_lock(site: &Site) -> Lock {
    let needs = needs(site).unwrap();
    let mut text = String::from("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages:\n");
    for (i, img) in needs.images.iter().enumerate() {
        text.push_str(&format!(
            "- name: {}\n  digest: sha256:{:064x}\n",
            img.upstream.tagged(),
            i + 1
        ));
    }
    text.push_str("files:\n");
    for (i, f) in needs.files.iter().enumerate() {
        let sha = f
            .sha256
            .as_ref()
            .map(|d| d.hex().to_string())
            .unwrap_or_else(|| format!("{:064x}", 100 + i));
        text.push_str(&format!(
            "- name: {}\n  url: \"{}\"\n  sha256: \"{sha}\"\n  size: 1\n",
            f.name, f.url
        ));
    }
    lock::parse(&text).unwrap()
}

fn gaps(site: &Site, lock: &Lock) -> Vec<String> {
    match render(
        site,
        &Inputs {
            lock: Some(lock),
            ..Default::default()
        },
    ) {
        Err(RenderError::LockIncomplete(v)) => v,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => Vec::new(),
    }
}

#[test]
fn a_full_lock_renders() {
    let site = site();
    assert_eq!(gaps(&site, &full_lock(&site)), Vec::<String>::new());
}

#[test]
fn every_missing_image_and_file_is_named() {
    let site = site();
    let mut lock = full_lock(&site);
    let pilot = lock
        .images
        .iter()
        .position(|i| i.name.repository == "istio/pilot")
        .unwrap();
    let pilot = lock.images.remove(pilot).name.to_string();
    let kube_apiserver = lock
        .images
        .iter()
        .position(|i| i.name.repository == "kube-apiserver")
        .unwrap();
    let kube_apiserver = lock.images.remove(kube_apiserver).name.to_string();
    let kubeadm = lock.files.iter().position(|f| f.name == "kubeadm-amd64").unwrap();
    lock.files.remove(kubeadm);
    let g = gaps(&site, &lock);
    assert_eq!(g.len(), 3, "{g:?}");
    assert!(g.iter().any(|m| m.contains(&pilot) && m.contains("istio")), "{g:?}");
    assert!(
        g.iter().any(|m| m.contains(&kube_apiserver) && m.contains("kubeadm")),
        "{g:?}"
    );
    assert!(g.iter().any(|m| m == "file kubeadm-amd64"), "{g:?}");
    let message = RenderError::LockIncomplete(g).to_string();
    assert!(message.contains("meshbundle lock"), "{message}");
}

#[test]
fn a_file_pinned_for_another_url_is_a_gap() {
    let site = site();
    let mut lock = full_lock(&site);
    let f = lock.files.iter_mut().find(|f| f.name == "kubelet-amd64").unwrap();
    f.url = f.url.replace("/v1.", "/v0.");
    let g = gaps(&site, &lock);
    assert_eq!(g.len(), 1, "{g:?}");
    assert!(g[0].starts_with("file kubelet-amd64 (pinned for"), "{g:?}");
}
