//! The seal, the lock and the secrets file are read through their types:
//! every identifier in them (image reference, digest, path) is checked as it
//! is read, and the seal's images must be pinned, where the site pulls them,
//! to the digest the seal vouches for.

use meshbundle_core::seal::Seal;

const D: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const M: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn seal_with_image(name: &str, site: &str, not_carried: &str) -> String {
    format!(
        r#"{{"format":"meshbundle.dev/bundle/v1","meshbundle":"x","site":"s","spec":"","treeDigest":"{D}","secrets":{{"privateKeys":"none"}},"images":[{{"name":"{name}","site":"{site}","digest":"{M}","mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":["{M}"],"blobs":[],"size":1}}],"files":[],"certificates":[],{not_carried}"entries":[]}}"#
    )
}

#[test]
fn a_seal_image_is_a_reference_pinned_to_its_digest() {
    let ok = seal_with_image(
        "registry.k8s.io/pause:3.10",
        &format!("10.0.0.5:5000/pause:3.10@{M}"),
        "",
    );
    let seal = Seal::parse(ok.as_bytes()).expect("a well-formed seal");
    assert_eq!(
        Seal::id_of(ok.as_bytes()),
        meshbundle_core::digest::Digest::of(ok.as_bytes())
    );
    assert_eq!(seal.images[0].name.to_string(), "registry.k8s.io/pause:3.10");
    assert_eq!(seal.images[0].site.digest.as_ref().map(|d| d.as_str()), Some(M));
    assert_eq!(
        seal.images[0].media_type.as_str(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        seal.to_bytes(),
        ok.as_bytes(),
        "the typed values write back the same bytes"
    );
    let cases = [
        // Not a reference at all: import would fail only when it got there.
        (
            seal_with_image("registry.k8s.io/pause:3.10", "not a reference", ""),
            "images[0].site",
        ),
        (
            seal_with_image(
                "Registry.k8s.io/PAUSE:3.10;id",
                &format!("10.0.0.5:5000/pause:3.10@{M}"),
                "",
            ),
            "images[0].name",
        ),
        // A reference, but to other bytes than the seal lists: the site would pull what nobody checked.
        (
            seal_with_image(
                "registry.k8s.io/pause:3.10",
                &format!("10.0.0.5:5000/pause:3.10@{D}"),
                "",
            ),
            "not pinned to the image's digest",
        ),
        (
            seal_with_image("registry.k8s.io/pause:3.10", "10.0.0.5:5000/pause:3.10", ""),
            "not pinned to the image's digest",
        ),
        (
            seal_with_image(
                "registry.k8s.io/pause:3.10",
                &format!("10.0.0.5:5000/pause:3.10@{M}"),
                r#""notCarried":{"images":["$(reboot)"],"reason":"r"},"#,
            ),
            "notCarried.images",
        ),
        // A reference meshbundle would write otherwise (normalised): the field
        // is named with the form it would have, not left to the canonical-bytes check.
        (
            seal_with_image("pause:3.10", &format!("10.0.0.5:5000/pause:3.10@{M}"), ""),
            "images[0].name: `pause:3.10` is not a valid image reference: it is not written as meshbundle writes it, `docker.io/library/pause:3.10`",
        ),
        (
            seal_with_image(
                "registry.k8s.io/pause:3.10",
                &format!("10.0.0.5:5000/pause:3.10@{M}"),
                r#""notCarried":{"images":["nginx"],"reason":"r"},"#,
            ),
            "notCarried.images[0]: `nginx` is not a valid image reference: it is not written as meshbundle writes it, `docker.io/library/nginx`",
        ),
        (
            ok.replace(
                "application/vnd.oci.image.manifest.v1+json",
                r"application/x\u001b[1Ajson",
            ),
            "images[0].mediaType",
        ),
        (
            ok.replace("application/vnd.oci.image.manifest.v1+json", ""),
            "images[0].mediaType",
        ),
        // A seal that claims a state of its keys build never writes is not read as "encrypted".
        (
            ok.replace(r#""privateKeys":"none""#, r#""privateKeys":"sealed""#),
            "secrets.privateKeys",
        ),
    ];
    for (json, want) in cases {
        let e = Seal::parse(json.as_bytes()).expect_err(want);
        assert!(e.contains(want), "expected `{want}` in: {e}");
    }
}

#[test]
fn a_lock_identifier_is_checked_where_it_is_read() {
    let lock = |name: &str, digest: &str, file: &str, sha: &str| {
        format!(
            "apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages:\n- name: {name}\n  digest: {digest}\nfiles:\n- name: {file}\n  url: https://example.com/x\n  sha256: {sha}\n  size: 1\n"
        )
    };
    let hex = &M[7..];
    assert!(meshbundle_core::lock::parse(&lock("registry.k8s.io/pause:3.10", M, "kubeadm-amd64", hex)).is_ok());
    for (text, want) in [
        (lock("registry.k8s.io/pause:3.10", hex, "kubeadm-amd64", hex), "images"),
        (
            lock("'registry.k8s.io/pause:3.10 x'", M, "kubeadm-amd64", hex),
            "images",
        ),
        (lock("registry.k8s.io/pause:3.10", M, "../kubeadm", hex), "files"),
        (lock("registry.k8s.io/pause:3.10", M, "kubeadm-amd64", M), "files"),
    ] {
        let e = meshbundle_core::lock::parse(&text).expect_err(want).to_string();
        assert!(e.contains(want), "expected `{want}` in: {e}");
    }
    // A name as people write it is read as the reference it means, and
    // written back normalised.
    let l = meshbundle_core::lock::parse(&lock("nginx:1", M, "kubeadm-amd64", hex)).unwrap();
    let nginx: meshbundle_core::image::ImageRef = "docker.io/library/nginx:1".parse().unwrap();
    assert_eq!(l.images[0].name, nginx);
    assert!(l.image(&nginx).is_some());
    let written = meshbundle_core::lock::write(&l).unwrap();
    assert!(written.contains("- name: docker.io/library/nginx:1\n"), "{written}");
}

#[test]
fn a_lock_is_sorted_by_its_names_as_written() {
    // By the text, not by the parts: `a.io/x` after `a.io-b/x`, as a reader sees them.
    let mut l = meshbundle_core::lock::Lock::new();
    for name in ["a.io/x:1", "a.io-b/x:1"] {
        l.images.push(meshbundle_core::lock::LockedImage {
            name: name.parse().unwrap(),
            digest: M.parse().unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    let written = meshbundle_core::lock::write(&l).unwrap();
    let b = written.find("a.io-b/x:1").unwrap();
    let a = written.find("a.io/x:1").unwrap();
    assert!(b < a, "{written}");
}

#[test]
fn a_file_that_is_not_a_lock_is_refused_at_the_field_that_says_so() {
    let lock = "# a comment\napiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages: []\nfiles: []\n";
    assert!(meshbundle_core::lock::parse(lock).is_ok());
    for (text, want) in [
        (
            lock.replace("kind: Lock", "kind: Site"),
            "3:1: kind: not a meshbundle lock (kind `Site`)",
        ),
        (
            lock.replace("meshbundle.dev/v1alpha1", "meshbundle.dev/v2"),
            "2:1: apiVersion: not a meshbundle lock (apiVersion `meshbundle.dev/v2`)",
        ),
    ] {
        let e = meshbundle_core::lock::parse(&text).expect_err(want).to_string();
        assert_eq!(e, want);
    }
}

/// What does not fit a lock or a secrets file is said in the words of a
/// YAML file, never with the program's own type names (`struct Lock`, `u32`).
#[test]
fn a_value_of_the_wrong_kind_is_said_in_the_words_of_the_file() {
    let lock = |t: &str| meshbundle_core::lock::parse(t).expect_err(t).to_string();
    assert_eq!(
        lock("hello"),
        "the file holds the text \"hello\" where a mapping of fields belongs"
    );
    assert_eq!(
        lock("- a\n- b\n"),
        "the file holds a list where a mapping of fields belongs"
    );
    assert_eq!(
        lock("42"),
        "the file holds the number 42 where a mapping of fields belongs"
    );
    assert_eq!(
        lock("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages: 3\n"),
        "3:1: images: the number 3 where a list belongs"
    );
    assert_eq!(
        lock("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages: [{name: 5}]\n"),
        "3:11: images[0].name: the number 5 where a string belongs"
    );
    let secrets = |t: &str| meshbundle_core::pki::parse_secrets(t).expect_err(t).to_string();
    for t in ["hello", "- a\n", "true", "{kind: [1]}"] {
        let e = secrets(t);
        for rust in ["struct", "enum ", "u32", "u64", "usize", "SiteSecrets", "sequence"] {
            assert!(!e.contains(rust), "{t:?}: {e}");
        }
    }
}
