//! The LZMA decoder the configurator's page unpacks its WebAssembly module
//! with. The module travels compressed by LZMA (`web/src/embed.py`, with
//! Python's `lzma`): 20 % smaller than the best gzip, which is what the
//! browser can inflate by itself. Built for `wasm32-unknown-unknown` this is a
//! 9 KB module without the standard library; on other targets it is a plain
//! library, so its tests run with the others.
//!
//! The input is the `.lzma` ("alone") format: one byte of properties
//! (`lc`, `lp`, `pb`), the dictionary size (4 bytes, unused: the whole output
//! is the dictionary), the output size (8 bytes, little-endian), then the
//! range-coded stream. Decoding stops when the output is full; a stream that
//! does not fill it, or refers before its start, is an error.

#![cfg_attr(target_arch = "wasm32", no_std)]

/// Why a stream does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The header is short or its properties are out of range.
    Header,
    /// The stream ends, or refers to data before the output's start, before
    /// the output is full.
    Data,
}

/// Probabilities: the fixed models, then 0x300 per literal context.
const LITERAL: usize = 1846;
/// The working memory a decoder needs, in probabilities.
pub const MAX_PROBS: usize = LITERAL + 0x300 * 16;

/// The output size the header of `src` gives.
pub fn output_size(src: &[u8]) -> Result<u64, Error> {
    let size: [u8; 8] = src
        .get(5..13)
        .ok_or(Error::Header)?
        .try_into()
        .map_err(|_| Error::Header)?;
    Ok(u64::from_le_bytes(size))
}

struct RangeDecoder<'a> {
    src: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl RangeDecoder<'_> {
    #[inline(always)]
    fn normalize(&mut self) {
        if self.range < (1 << 24) {
            self.range <<= 8;
            // Past the end reads zeros: the output check catches a short stream.
            self.code = (self.code << 8) | u32::from(self.src.get(self.pos).copied().unwrap_or(0));
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn bit(&mut self, p: &mut u16) -> usize {
        let bound = (self.range >> 11) * u32::from(*p);
        let b = if self.code < bound {
            self.range = bound;
            *p += (2048 - *p) >> 5;
            0
        } else {
            self.range -= bound;
            self.code -= bound;
            *p -= *p >> 5;
            1
        };
        self.normalize();
        b
    }

    /// A bit-tree symbol of `n` bits, most significant first.
    #[inline(always)]
    fn tree(&mut self, probs: &mut [u16], n: u32) -> usize {
        let mut m = 1;
        for _ in 0..n {
            m = (m << 1) | self.bit(&mut probs[m]);
        }
        m - (1 << n)
    }

    /// A bit-tree symbol of `n` bits, least significant first.
    #[inline(always)]
    fn reverse(&mut self, probs: &mut [u16], n: u32) -> usize {
        let (mut m, mut r) = (1, 0);
        for i in 0..n {
            let b = self.bit(&mut probs[m]);
            m = (m << 1) | b;
            r |= b << i;
        }
        r
    }

    fn direct(&mut self, n: u32) -> usize {
        let mut r = 0;
        for _ in 0..n {
            self.range >>= 1;
            let t = usize::from(self.code >= self.range);
            if t == 1 {
                self.code -= self.range;
            }
            r = (r << 1) | t;
            self.normalize();
        }
        r
    }

    /// A match length minus 2, from the length coder at `p`.
    fn len(&mut self, p: &mut [u16], pos_state: usize) -> usize {
        if self.bit(&mut p[0]) == 0 {
            return self.tree(&mut p[2 + pos_state * 8..], 3);
        }
        if self.bit(&mut p[1]) == 0 {
            return 8 + self.tree(&mut p[130 + pos_state * 8..], 3);
        }
        16 + self.tree(&mut p[258..], 8)
    }
}

/// Where the byte `rep0 + 1` back from `n` is, if the output has it.
#[inline(always)]
fn back(n: usize, rep0: usize) -> Result<usize, Error> {
    rep0.checked_add(1).and_then(|d| n.checked_sub(d)).ok_or(Error::Data)
}

/// A decoder part way through a stream: what it has read and decoded, so
/// that it can go on where it stopped (the page decodes in slices, letting
/// its thread do other work in between).
pub struct Decoder {
    pos: usize,
    range: u32,
    code: u32,
    lc: usize,
    lp: usize,
    pb: usize,
    state: usize,
    reps: [usize; 4],
    /// Bytes decoded so far.
    done: usize,
}

impl Decoder {
    /// Reads the header of `src`; `probs` is the decoder's working memory,
    /// which [`Decoder::run`] must be given each time.
    pub fn new(src: &[u8], probs: &mut [u16; MAX_PROBS]) -> Result<Decoder, Error> {
        let props = usize::from(*src.first().ok_or(Error::Header)?);
        let (lc, lp, pb) = (props % 9, (props / 9) % 5, props / 45);
        if pb > 4 || lc + lp > 4 || src.len() < 18 || src[13] != 0 {
            return Err(Error::Header);
        }
        probs[..LITERAL + (0x300 << (lc + lp))].fill(1024);
        Ok(Decoder {
            pos: 18,
            range: u32::MAX,
            code: u32::from_be_bytes([src[14], src[15], src[16], src[17]]),
            lc,
            lp,
            pb,
            state: 0,
            reps: [0; 4],
            done: 0,
        })
    }

    /// Bytes decoded so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Decodes into `out` (the whole output, the size [`output_size`] gives)
    /// until at least `until` bytes are decoded (a match may go past it), or
    /// the output is full.
    pub fn run(&mut self, src: &[u8], out: &mut [u8], probs: &mut [u16; MAX_PROBS], until: usize) -> Result<(), Error> {
        let probs = &mut probs[..LITERAL + (0x300 << (self.lc + self.lp))];
        let mut rc = RangeDecoder {
            src,
            pos: self.pos,
            range: self.range,
            code: self.code,
        };
        let (lc, pb_mask, lp_mask) = (self.lc, (1 << self.pb) - 1, (1 << self.lp) - 1);
        let mut state = self.state;
        let [mut rep0, mut rep1, mut rep2, mut rep3] = self.reps;
        let mut n = self.done;
        let until = until.min(out.len());
        let result = loop {
            if n >= until {
                break Ok(());
            }
            let pos_state = n & pb_mask;
            if rc.bit(&mut probs[(state << 4) + pos_state]) == 0 {
                // A literal, coded against the byte at rep0 after a match.
                let prev = if n > 0 { usize::from(out[n - 1]) } else { 0 };
                let base = LITERAL + 0x300 * (((n & lp_mask) << lc) + (prev >> (8 - lc)));
                let lit = &mut probs[base..base + 0x300];
                let mut sym = 1;
                if state >= 7 {
                    let Ok(at) = back(n, rep0) else { break Err(Error::Data) };
                    let mut m = usize::from(out[at]);
                    loop {
                        let mb = (m >> 7) & 1;
                        m <<= 1;
                        let b = rc.bit(&mut lit[((1 + mb) << 8) + sym]);
                        sym = (sym << 1) | b;
                        if mb != b || sym >= 0x100 {
                            break;
                        }
                    }
                }
                while sym < 0x100 {
                    sym = (sym << 1) | rc.bit(&mut lit[sym]);
                }
                out[n] = sym as u8;
                n += 1;
                state = match state {
                    0..4 => 0,
                    4..10 => state - 3,
                    _ => state - 6,
                };
                continue;
            }
            let len;
            if rc.bit(&mut probs[192 + state]) == 1 {
                // A match at one of the last four distances.
                if rc.bit(&mut probs[204 + state]) == 0 {
                    if rc.bit(&mut probs[240 + (state << 4) + pos_state]) == 0 {
                        // One byte at rep0.
                        let Ok(at) = back(n, rep0) else { break Err(Error::Data) };
                        out[n] = out[at];
                        n += 1;
                        state = if state < 7 { 9 } else { 11 };
                        continue;
                    }
                } else {
                    let d;
                    if rc.bit(&mut probs[216 + state]) == 0 {
                        d = rep1;
                    } else {
                        if rc.bit(&mut probs[228 + state]) == 0 {
                            d = rep2;
                        } else {
                            d = rep3;
                            rep3 = rep2;
                        }
                        rep2 = rep1;
                    }
                    rep1 = rep0;
                    rep0 = d;
                }
                len = rc.len(&mut probs[1332..LITERAL], pos_state);
                state = if state < 7 { 8 } else { 11 };
            } else {
                // A match at a new distance.
                rep3 = rep2;
                rep2 = rep1;
                rep1 = rep0;
                len = rc.len(&mut probs[818..1332], pos_state);
                state = if state < 7 { 7 } else { 10 };
                let slot = rc.tree(&mut probs[432 + (len.min(3) << 6)..], 6);
                rep0 = if slot < 4 {
                    slot
                } else {
                    let bits = (slot as u32 >> 1) - 1;
                    let mut dist = (2 | (slot & 1)) << bits;
                    if slot < 14 {
                        let base = 688 + dist - slot - 1;
                        dist += rc.reverse(&mut probs[base..], bits);
                    } else {
                        dist += rc.direct(bits - 4) << 4;
                        dist += rc.reverse(&mut probs[802..818], 4);
                    }
                    dist
                };
            }
            // Copies may overlap: byte by byte.
            let Ok(from) = back(n, rep0) else {
                break Err(Error::Data);
            };
            let end = (n + len + 2).min(out.len());
            for i in 0..end - n {
                out[n + i] = out[from + i];
            }
            n = end;
        };
        self.pos = rc.pos;
        self.range = rc.range;
        self.code = rc.code;
        self.state = state;
        self.reps = [rep0, rep1, rep2, rep3];
        self.done = n;
        result
    }
}

/// Decodes `src` into `out`, which must be the size [`output_size`] gives;
/// `probs` is the decoder's working memory.
pub fn decode_with(src: &[u8], out: &mut [u8], probs: &mut [u16; MAX_PROBS]) -> Result<(), Error> {
    let mut d = Decoder::new(src, probs)?;
    d.run(src, out, probs, out.len())
}

#[cfg(not(target_arch = "wasm32"))]
/// [`decode_with`], with its working memory allocated here.
pub fn decode(src: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let mut probs = vec![0u16; MAX_PROBS];
    let probs: &mut [u16; MAX_PROBS] = probs.as_mut_slice().try_into().map_err(|_| Error::Header)?;
    decode_with(src, out, probs)
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{Decoder, Error, MAX_PROBS};

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }

    static mut PROBS: [u16; MAX_PROBS] = [0; MAX_PROBS];
    static mut DECODER: Option<Decoder> = None;
    static mut IO: (usize, usize, usize, usize) = (0, 0, 0, 0);

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
        // SAFETY: the caller gives a range of this memory; the module runs on
        // one thread, and these statics are used only here and below.
        unsafe {
            let src_slice = core::slice::from_raw_parts(src, src_len);
            #[allow(static_mut_refs)]
            let decoder = Decoder::new(src_slice, &mut PROBS);
            IO = (src as usize, src_len, out as usize, out_len);
            match decoder {
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
            let (src, src_len, out, out_len) = IO;
            #[allow(static_mut_refs)]
            let (Some(decoder), probs) = (DECODER.as_mut(), &mut PROBS) else {
                return 1;
            };
            let src = core::slice::from_raw_parts(src as *const u8, src_len);
            let out = core::slice::from_raw_parts_mut(out as *mut u8, out_len);
            code(decoder.run(src, out, probs, until))
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
