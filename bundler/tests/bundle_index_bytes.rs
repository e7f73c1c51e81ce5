//! The image index a bundle carries (`images/index.json`) has fixed bytes:
//! compact JSON with `schemaVersion`, `mediaType`, `manifests` in that order,
//! each descriptor `mediaType`, `digest`, `size`, `annotations`, sorted by
//! reference name (the site's: the site registry, repository and tag). The expected text below is written out by hand, as
//! bundles have always carried it, so a change in how the index is built
//! cannot change a bundle's bytes (and so its id) unnoticed.

use std::io::Read;

use meshbundle::bundle::build::{Input, write};
use meshbundle::bundle::seal::NotCarried;
use meshbundle::oci::cache::BlobCache;
use meshbundle::oci::{Blob, Image};
use meshbundle::progress::Progress;
use meshbundle_core::render::{Inputs, render_valid};

/// An image of one config and one layer, put in the cache.
fn image(cache: &BlobCache, name: &str, seed: &str, media_type: &str) -> Image {
    let config = cache
        .put_bytes(format!("{{\"config\":\"{seed}\"}}").as_bytes())
        .unwrap();
    let layer = cache.put_bytes(format!("layer of {seed}").as_bytes()).unwrap();
    let raw = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{media_type}\",\"config\":{{\"digest\":\"{config}\"}},\"layers\":[{{\"digest\":\"{layer}\"}}]}}"
    )
    .into_bytes();
    let digest = cache.put_bytes(&raw).unwrap();
    let mut blobs = vec![
        Blob {
            digest: config,
            size: 10 + seed.len() as u64 + 2,
            media_type: "application/vnd.oci.image.config.v1+json".into(),
        },
        Blob {
            digest: layer,
            size: 9 + seed.len() as u64,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        },
    ];
    blobs.sort();
    Image {
        name: name.parse().unwrap(),
        digest: digest.clone(),
        media_type: media_type.parse().unwrap(),
        size: raw.len() as u64,
        manifests: vec![(digest, media_type.into(), raw)],
        blobs,
    }
}

#[test]
fn the_carried_image_index_has_the_bytes_bundles_always_had() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = BlobCache::open(Some(&d.join("cache"))).unwrap();
    let text = meshbundle_core::examples::example("lab").unwrap();
    let site = meshbundle_core::spec::load::load(text).into_validated().unwrap();
    let tree = render_valid(&site, &Inputs::default()).unwrap();
    // Given out of order, and with a Docker media type beside an OCI one.
    let images = vec![
        image(
            &cache,
            "quay.io/zeta/app:2.0",
            "z",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        image(
            &cache,
            "docker.io/library/alpha:1.0",
            "a",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ];
    let want = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#,
            r#"{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{reg}/library/alpha:1.0"}}}},"#,
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{reg}/zeta/app:2.0"}}}}"#,
            r#"]}}"#
        ),
        images[1].digest,
        images[1].size,
        images[0].digest,
        images[0].size,
        reg = site.spec.registry,
    );
    let input = Input {
        site: &site,
        spec_text: text.to_string(),
        lock_text: None,
        tree,
        secrets: None,
        sealer: None,
        withhold_keys: false,
        images,
        files: Vec::new(),
        binary: None,
        not_carried: NotCarried {
            reason: "a test of the image index".into(),
            ..Default::default()
        },
        base: None,
        signer: None,
    };
    let out = d.join("x.mbundle");
    write(input, &out, &cache, &Progress::bytes("build", true)).unwrap();
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut got = None;
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("images/index.json") {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            got = Some(s);
        }
    }
    assert_eq!(got.expect("the bundle carries images/index.json"), want);
}
