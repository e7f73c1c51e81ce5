//! A lock's platforms (`os/architecture[/variant]`) and media types are checked where the lock
//! is read: a bad one is refused naming the line and the field, and a good
//! lock is written back with the same bytes.

const M: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const C: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn lock(platform: &str) -> String {
    format!(
        "# meshbundle.lock: every image pinned to a digest and every file to a sha256.\n\
         # Written by `meshbundle lock`; commit it beside meshbundle.yaml.\n\
         apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages:\n- name: registry.k8s.io/pause:3.10\n  digest: {M}\n  \
         mediaType: application/vnd.oci.image.index.v1+json\n  platforms:\n  - platform: {platform}\n    digest: {C}\nfiles: []\n"
    )
}

#[test]
fn a_good_lock_reads_back_typed_and_writes_the_same_bytes() {
    for p in ["linux/amd64", "linux/arm64/v8"] {
        let text = lock(p);
        let l = meshbundle_core::lock::parse(&text).unwrap();
        let got = &l.images[0].platforms[0].platform;
        assert_eq!(got.to_string(), p);
        assert_eq!(got.os(), "linux");
        assert_eq!(meshbundle_core::lock::write(&l).unwrap(), text);
    }
}

#[test]
fn a_bad_platform_is_refused_with_its_line_and_field() {
    for bad in [
        "linux",
        "linux/amd64/v8/extra",
        "'linux/$(id)'",
        "Linux/AMD64",
        "'linux/ amd64'",
    ] {
        let e = meshbundle_core::lock::parse(&lock(bad)).expect_err(bad).to_string();
        assert!(
            e.contains("images[0].platforms[0].platform") && e.contains("os/architecture"),
            "{bad}: {e}"
        );
        assert!(e.contains("10:"), "{bad}: the line is named: {e}");
    }
}

#[test]
fn a_bad_media_type_is_refused_with_its_line_and_field() {
    let good = lock("linux/amd64");
    for bad in ["application", "'application/x json'", "'text/$(id)'"] {
        let text = good.replace("application/vnd.oci.image.index.v1+json", bad);
        let e = meshbundle_core::lock::parse(&text).expect_err(bad).to_string();
        assert!(
            e.contains("images[0].mediaType") && e.contains("not a media type"),
            "{bad}: {e}"
        );
    }
    // Left out (locks written before media types were recorded): read, and left out again.
    let text = good.replace("  mediaType: application/vnd.oci.image.index.v1+json\n", "");
    let l = meshbundle_core::lock::parse(&text).unwrap();
    assert!(l.images[0].media_type.is_empty());
    assert_eq!(meshbundle_core::lock::write(&l).unwrap(), text);
}
