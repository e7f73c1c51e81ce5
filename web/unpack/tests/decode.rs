//! The decoder against streams Python's `lzma` wrote (as `web/src/embed.py`
//! does), with the properties the page uses and others. Each stream's plain
//! text is beside it in `tests/data/` (an example spec and the schema as
//! they were when the stream was written).

use meshbundle_unpack::{Error, decode, output_size};

fn check(stream: &str, plain: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let src = std::fs::read(format!("{}/web/unpack/tests/data/{stream}", root)).unwrap();
    let want = std::fs::read(format!("{root}/web/unpack/tests/data/{plain}")).unwrap();
    assert_eq!(output_size(&src), Ok(want.len() as u64), "{stream}");
    let mut out = vec![0; want.len()];
    assert_eq!(decode(&src, &mut out), Ok(()), "{stream}");
    assert!(out == want, "{stream}: decodes to other bytes");
}

#[test]
fn decodes_what_python_lzma_wrote() {
    // lc=4 lp=0 pb=0: the page's module.
    check("production.yaml.lzma", "production.yaml");
    // lc=3 lp=0 pb=2: the format's defaults.
    check("lab.yaml.lzma", "lab.yaml");
    // lc=0 lp=2 pb=2: position-dependent literals.
    check("site.schema.json.lzma", "site.schema.json");
}

#[test]
fn a_broken_stream_is_an_error_not_a_panic() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let src = std::fs::read(format!("{root}/production.yaml.lzma")).unwrap();
    let size = output_size(&src).unwrap() as usize;
    // Cut short, the stream runs out before the output is full.
    let mut out = vec![0; size];
    assert!(
        decode(&src[..src.len() / 2], &mut out).is_err()
            || out != std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/production.yaml")).unwrap()
    );
    // Asked for more than it holds, it refers past its end marker.
    let mut more = vec![0; size + 100];
    assert_eq!(decode(&src, &mut more), Err(Error::Data));
    // Bad properties and short headers.
    assert_eq!(decode(&[225; 20], &mut out), Err(Error::Header));
    assert_eq!(decode(&src[..10], &mut out), Err(Error::Header));
    assert_eq!(output_size(&src[..10]), Err(Error::Header));
    // Noise never panics.
    let mut x = 0x9e37_79b9u32;
    for _ in 0..200 {
        let mut noise = src[..18].to_vec();
        for _ in 0..600 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            noise.push(x as u8);
        }
        let _ = decode(&noise, &mut out);
    }
}

#[test]
fn decoding_in_slices_gives_the_same_bytes() {
    use meshbundle_unpack::Decoder;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let src = std::fs::read(format!("{root}/web/unpack/tests/data/site.schema.json.lzma")).unwrap();
    let want = std::fs::read(format!("{root}/web/unpack/tests/data/site.schema.json")).unwrap();
    for slice in [1, 777, 4096, 1 << 20] {
        let mut out = vec![0; want.len()];
        let mut d = Decoder::new(&src).unwrap();
        while d.done() < out.len() {
            let until = d.done() + slice;
            d.run(&mut out, until).unwrap();
            assert!(d.done() >= until.min(out.len()), "stopped short of {until}");
        }
        assert!(out == want, "slices of {slice}: other bytes");
    }
}
