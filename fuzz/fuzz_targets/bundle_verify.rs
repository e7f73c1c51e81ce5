//! The bundle readers (`inspect`'s head, `verify`, and the streaming reader of
//! `import`) on arbitrary bytes: they must refuse with an error, never panic,
//! hang or allocate without bound. Inputs whose length is 3 mod 4 are read as
//! they are; the others first get their tar checksums and `SEAL.sha256`
//! repaired (see `repair`), so mutations of the seal reach the seal's parser
//! and the entry checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if bytes.len() % 4 != 3 {
        meshbundle_fuzz::repair(&mut bytes);
    }
    let path = meshbundle_fuzz::scratch(&bytes);
    meshbundle_fuzz::read_all(&path);
});
