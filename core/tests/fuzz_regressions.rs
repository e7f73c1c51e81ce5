//! Inputs the fuzz targets (`fuzz/`, run by `bench/fuzz.sh`) found, kept as
//! tests so each stays fixed. The name of each test's target is in its comment.

use meshbundle_core::image::ImageRef;

/// Whatever parses prints to a reference that parses back to the same value.
fn round_trips(reference: &str) {
    let r = ImageRef::parse(reference).unwrap_or_else(|e| panic!("{e}"));
    let printed = r.to_string();
    match ImageRef::parse(&printed) {
        Ok(again) => assert_eq!(
            again, r,
            "`{reference}` prints as `{printed}`, which names another image"
        ),
        Err(e) => panic!("`{reference}` parses, but its printed form does not: {e}"),
    }
}

/// The references the `image_ref` target starts from keep the property.
#[test]
fn seed_references_round_trip() {
    for r in [
        "registry.k8s.io/pause:3.10",
        "docker.io/istio/pilot:1.30.3",
        "prom/prometheus",
        "nginx",
        "localhost:5000/a/b__c.d-e:_t",
        "192.168.56.10:5000/istio/proxyv2:1.30.3@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
        "index.docker.io/library/busybox@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
    ] {
        round_trips(r);
    }
}

/// Found by `image_ref`: Docker Hub's legacy host `index.docker.io` is
/// renamed `docker.io` only after the `library/` prefix was decided, so
/// `index.docker.io/NAME` parses to `docker.io/NAME`, which prints and
/// parses back as `docker.io/library/NAME`: the same text names two images.
#[test]
fn docker_hub_legacy_host_official_image_round_trips() {
    let r = ImageRef::parse("index.docker.io/ldoib").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r,
        ImageRef::parse("docker.io/library/ldoib").unwrap_or_else(|e| panic!("{e}"))
    );
    round_trips("index.docker.io/ldoib");
    round_trips("index.docker.io/a:1");
}

/// Found by `image_ref`: a reference is refused over 512 characters, but the
/// length was checked before normalising, so a short form of up to 512 parsed
/// and its printed form (with `docker.io/` and `library/` added) was refused.
/// Now the limit holds for the normalised form: such a reference is refused
/// when parsed, and one just under the limit round-trips.
#[test]
fn a_long_reference_that_parses_prints_one_that_parses() {
    for refused in ["a".repeat(500), format!("o/{}", "a".repeat(508))] {
        assert!(
            ImageRef::parse(&refused).is_err(),
            "{} characters, {} when normalised",
            refused.len(),
            refused.len() + 18
        );
    }
    round_trips(&"a".repeat(512 - "docker.io/library/".len()));
    round_trips(&format!("o/{}", "a".repeat(512 - "docker.io/o/".len())));
}
