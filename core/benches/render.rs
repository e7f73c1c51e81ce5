//! Render time of the default spec (goal: under 50 ms natively), and the time
//! to generate a whole site's PKI with ECDSA (goal: under a second).
//!
//!   cargo bench -p meshbundle-core --bench render

use criterion::{Criterion, criterion_group, criterion_main};
use meshbundle_core::examples::example;
use meshbundle_core::pki::{self, secrets::GenerateOptions};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn bench(c: &mut Criterion) {
    let site = load(example("production").unwrap()).site.unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let now = 1_780_000_000;
    let secrets = pki::generate(
        &site,
        &GenerateOptions {
            now,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();

    c.bench_function("render default spec (no secrets)", |b| {
        b.iter(|| render(&site, &Inputs::default()).unwrap())
    });
    c.bench_function("render default spec (with secrets)", |b| {
        b.iter(|| {
            render(
                &site,
                &Inputs {
                    secrets: Some(&secrets),
                    ..Default::default()
                },
            )
            .unwrap()
        })
    });
    c.bench_function("validate default spec", |b| {
        b.iter(|| load(example("production").unwrap()))
    });
    let mut g = c.benchmark_group("pki");
    g.sample_size(10);
    g.bench_function("generate site PKI (ECDSA P-256)", |b| {
        b.iter(|| {
            pki::generate(
                &site,
                &GenerateOptions {
                    now,
                    mesh_root: None,
                    provided_tls: None,
                },
                &mut rng,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
