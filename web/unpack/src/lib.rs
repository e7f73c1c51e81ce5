//! Unpacks the configurator's WebAssembly module in the page. The module
//! travels compressed by LZMA (`web/src/embed.py`, with Python's `lzma`):
//! 20 % smaller than the best gzip, which is what the browser can inflate by
//! itself. The decoding is `lzma-rust2`'s [`LzmaReader`]; this crate gives it
//! the page's interface. Built for `wasm32-unknown-unknown` it is a small
//! module without the standard library; on other targets it is a plain
//! library, so its tests run with the others.
//!
//! The input is the `.lzma` ("alone") format: one byte of properties
//! (`lc`, `lp`, `pb`), the dictionary size (4 bytes), the output size
//! (8 bytes, little-endian), then the range-coded stream. A stream that ends
//! before the output is full, or refers before its start, is an error.

#![cfg_attr(target_arch = "wasm32", no_std)]

use lzma_rust2::{LzmaReader, Read};

/// Why a stream does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The header is short or its properties are out of range.
    Header,
    /// The stream ends, or refers to data before the output's start, before
    /// the output is full.
    Data,
}

/// The output size the header of `src` gives.
pub fn output_size(src: &[u8]) -> Result<u64, Error> {
    let size: [u8; 8] = src
        .get(5..13)
        .ok_or(Error::Header)?
        .try_into()
        .map_err(|_| Error::Header)?;
    Ok(u64::from_le_bytes(size))
}

/// A decoder of one stream, which decodes its output in as many steps as the
/// caller likes.
pub struct Decoder<'a> {
    reader: LzmaReader<&'a [u8]>,
    done: usize,
}

impl<'a> Decoder<'a> {
    /// Reads the header of `src`.
    pub fn new(src: &'a [u8]) -> Result<Decoder<'a>, Error> {
        if src.len() < 13 {
            return Err(Error::Header);
        }
        let reader = LzmaReader::new_mem_limit(src, u32::MAX, None).map_err(|_| Error::Header)?;
        Ok(Decoder { reader, done: 0 })
    }

    /// Bytes of the output decoded so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Decodes into `out` until at least `until` bytes of it (or all of it)
    /// are decoded.
    pub fn run(&mut self, out: &mut [u8], until: usize) -> Result<(), Error> {
        let until = until.min(out.len());
        if until > self.done {
            let want = out.get_mut(self.done..until).ok_or(Error::Data)?;
            self.reader.read_exact(want).map_err(|_| Error::Data)?;
            self.done = until;
        }
        Ok(())
    }
}

/// Decodes `src` into `out`, which it must fill.
pub fn decode(src: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let mut d = Decoder::new(src)?;
    d.run(out, out.len())
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{Decoder, Error};

    // The decoder's dictionary and working memory: talc takes each new heap
    // by growing the module's memory, above what the caller has placed there.
    #[global_allocator]
    static ALLOC: talc::cell::TalcSyncCell<talc::wasm::WasmGrowAndClaim, talc::wasm::WasmBinning> =
        talc::cell::TalcSyncCell::new_wasm(talc::wasm::WasmGrowAndClaim);

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }

    static mut DECODER: Option<Decoder<'static>> = None;
    static mut OUT: (usize, usize) = (0, 0);

    fn code(r: Result<(), Error>) -> u32 {
        match r {
            Ok(()) => 0,
            Err(Error::Header) => 1,
            Err(Error::Data) => 2,
        }
    }

    /// Starts decoding the `src_len` bytes at `src` into the `out_len` bytes
    /// at `out` (the caller grows the memory and places both above what the
    /// module uses): 0, or 1 for a bad header. [`unlzma_run`] decodes.
    ///
    /// # Safety
    ///
    /// Both ranges lie in the module's memory, do not overlap, and stay
    /// untouched until the output is full.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn unlzma_start(src: *const u8, src_len: usize, out: *mut u8, out_len: usize) -> u32 {
        // SAFETY: the caller gives a range of this memory that stays as it is
        // while the decoder reads it; the module runs on one thread, and these
        // statics are used only here and below.
        unsafe {
            let src: &'static [u8] = core::slice::from_raw_parts(src, src_len);
            OUT = (out as usize, out_len);
            match Decoder::new(src) {
                Ok(d) => {
                    DECODER = Some(d);
                    0
                }
                Err(e) => code(Err(e)),
            }
        }
    }

    /// Decodes until at least `until` bytes of the output are decoded:
    /// 0 when done, 1 before a start, 2 for bad data. [`unlzma_done`] says
    /// how far it got.
    ///
    /// # Safety
    ///
    /// After [`unlzma_start`], with its ranges untouched.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn unlzma_run(until: usize) -> u32 {
        // SAFETY: as for unlzma_start, whose ranges these are.
        unsafe {
            let (out, out_len) = OUT;
            #[allow(static_mut_refs)]
            let Some(decoder) = DECODER.as_mut() else {
                return 1;
            };
            let out = core::slice::from_raw_parts_mut(out as *mut u8, out_len);
            code(decoder.run(out, until))
        }
    }

    /// Bytes of the output decoded so far.
    #[unsafe(no_mangle)]
    pub extern "C" fn unlzma_done() -> usize {
        // SAFETY: the module runs on one thread.
        #[allow(static_mut_refs)]
        unsafe { DECODER.as_ref() }.map_or(0, Decoder::done)
    }
}
