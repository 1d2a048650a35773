//! MD5 of many inputs at once, one input per SIMD lane.
//!
//! MD5 is one long chain of dependent steps, so hashing a single input
//! leaves most of a core's arithmetic units idle. On a CPU with AVX-512,
//! sixteen inputs go through the same steps side by side, each in its own
//! 32-bit lane. Ten inputs of 1 KiB then take about twice as long as one
//! input alone, and a fifth of the time they take one after another. With
//! AVX2, eight inputs go side by side. Inputs of different lengths share a run:
//! a lane whose input has no blocks left keeps its state while the others
//! go on. Other CPUs hash one input at a time.

use md5::{Digest, Md5};

/// Returns the MD5 digest of each input, in order.
pub(crate) fn digest_each(inputs: &[&[u8]]) -> Vec<[u8; 16]> {
    #[cfg(target_arch = "x86_64")]
    if inputs.len() > 1 {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // Safety: the CPU has AVX-512F, checked just above. That is the
            // only condition for calling the function.
            #[allow(unsafe_code)]
            return inputs.chunks(avx512::LANES).flat_map(|chunk| unsafe { avx512::digest_lanes(chunk) }).collect();
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // Safety: the CPU has AVX2, checked just above. That is the only
            // condition for calling the function.
            #[allow(unsafe_code)]
            return inputs.chunks(avx2::LANES).flat_map(|chunk| unsafe { avx2::digest_lanes(chunk) }).collect();
        }
    }
    inputs.iter().map(|input| Md5::digest(input).into()).collect()
}

/// One input cut into 64-byte blocks: the whole blocks are read in place,
/// the last one or two are built with the padding and the bit length.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Blocks<'a> {
    input: &'a [u8],
    /// Blocks read straight from `input`.
    whole: usize,
    tail: [u8; 128],
    /// Blocks in all, `whole` plus one or two in `tail`.
    count: usize,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl<'a> Blocks<'a> {
    fn new(input: &'a [u8]) -> Self {
        let whole = input.len() / 64;
        let rest = &input[whole * 64..];
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        // The bit length takes the last 8 bytes; one more block is needed
        // when the rest and the 0x80 byte leave less room than that.
        let tail_blocks = if rest.len() < 56 { 1 } else { 2 };
        let bits = (input.len() as u64).wrapping_mul(8);
        tail[tail_blocks * 64 - 8..tail_blocks * 64].copy_from_slice(&bits.to_le_bytes());
        Blocks { input, whole, tail, count: whole + tail_blocks }
    }

    fn block(&self, index: usize) -> &[u8] {
        if index < self.whole {
            &self.input[index * 64..(index + 1) * 64]
        } else {
            let start = (index - self.whole) * 64;
            &self.tail[start..start + 64]
        }
    }
}

const INITIAL: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The additive constant of each step: the integer part of
/// `abs(sin(i + 1)) * 2^32`.
#[rustfmt::skip]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const K: [u32; 64] = [
    0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
    0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
    0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
    0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
    0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
    0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
    0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
    0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
];

/// The left rotation of each step within a round of sixteen.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const ROTATIONS: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

/// Returns the index of the message word that step `i` adds.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const fn word_index(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// Lays block `index` of every lane out word by word: `words[w][lane]` is
/// word `w` of the lane's block. Returns the lanes that have the block, one
/// bit each. The other lanes keep their old words and their state.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn layout<const N: usize>(lanes: &[Blocks], index: usize, words: &mut [[u32; N]; 16]) -> u32 {
    let mut active = 0;
    for (lane, input) in lanes.iter().enumerate().take(N) {
        if index < input.count {
            active |= 1 << lane;
            for (w, bytes) in input.block(index).chunks_exact(4).enumerate() {
                words[w][lane] = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
        }
    }
    active
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{layout, word_index, Blocks, INITIAL, K, ROTATIONS};
    use std::arch::x86_64::*;

    /// Inputs hashed together in one run.
    pub(super) const LANES: usize = 16;

    /// Hashes up to [`LANES`] inputs, one per lane.
    #[target_feature(enable = "avx512f")]
    pub(super) fn digest_lanes(inputs: &[&[u8]]) -> Vec<[u8; 16]> {
        let lanes: Vec<Blocks> = inputs.iter().take(LANES).map(|input| Blocks::new(input)).collect();
        let blocks = lanes.iter().map(|lane| lane.count).max().unwrap_or(0);
        let mut state = INITIAL.map(|word| _mm512_set1_epi32(word as i32));
        let mut words = [[0u32; LANES]; 16];
        for index in 0..blocks {
            let active = layout(&lanes, index, &mut words) as __mmask16;
            let mut message = [_mm512_setzero_si512(); 16];
            for (vector, lanes) in message.iter_mut().zip(&words) {
                *vector = load(lanes);
            }
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..16 {
                let f = _mm512_ternarylogic_epi32::<0xca>(b, c, d);
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 16..32 {
                let f = _mm512_ternarylogic_epi32::<0xe4>(b, c, d);
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 32..48 {
                let f = _mm512_ternarylogic_epi32::<0x96>(b, c, d);
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 48..64 {
                let f = _mm512_ternarylogic_epi32::<0x39>(b, c, d);
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for (word, round) in state.iter_mut().zip([a, b, c, d]) {
                *word = _mm512_mask_add_epi32(*word, active, *word, round);
            }
        }
        (0..lanes.len())
            .map(|lane| {
                let mut digest = [0u8; 16];
                for (bytes, word) in digest.chunks_exact_mut(4).zip(&state) {
                    let value = _mm512_reduce_add_epi32(_mm512_maskz_mov_epi32(1 << lane, *word)) as u32;
                    bytes.copy_from_slice(&value.to_le_bytes());
                }
                digest
            })
            .collect()
    }

    /// Computes one step: `b + ((a + f + K[i] + m) <<< s)`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn step(a: __m512i, b: __m512i, f: __m512i, i: usize, m: __m512i) -> __m512i {
        let constant = _mm512_set1_epi32(K[i] as i32);
        let sum = _mm512_add_epi32(_mm512_add_epi32(a, f), _mm512_add_epi32(constant, m));
        let rotation = _mm512_set1_epi32(ROTATIONS[i / 16][i % 4] as i32);
        _mm512_add_epi32(b, _mm512_rolv_epi32(sum, rotation))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn load(lanes: &[u32; LANES]) -> __m512i {
        let w = lanes.map(|word| word as i32);
        _mm512_set_epi32(
            w[15], w[14], w[13], w[12], w[11], w[10], w[9], w[8], w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0],
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{layout, word_index, Blocks, INITIAL, K, ROTATIONS};
    use std::arch::x86_64::*;

    /// Inputs hashed together in one run.
    pub(super) const LANES: usize = 8;

    /// Hashes up to [`LANES`] inputs, one per lane.
    #[target_feature(enable = "avx2")]
    pub(super) fn digest_lanes(inputs: &[&[u8]]) -> Vec<[u8; 16]> {
        let lanes: Vec<Blocks> = inputs.iter().take(LANES).map(|input| Blocks::new(input)).collect();
        let blocks = lanes.iter().map(|lane| lane.count).max().unwrap_or(0);
        let mut state = INITIAL.map(|word| _mm256_set1_epi32(word as i32));
        let mut words = [[0u32; LANES]; 16];
        let ones = _mm256_set1_epi32(-1);
        for index in 0..blocks {
            let active = lane_mask(layout(&lanes, index, &mut words));
            let mut message = [_mm256_setzero_si256(); 16];
            for (vector, lanes) in message.iter_mut().zip(&words) {
                *vector = load(lanes);
            }
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..16 {
                // (b & c) | (!b & d)
                let f = _mm256_or_si256(_mm256_and_si256(b, c), _mm256_andnot_si256(b, d));
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 16..32 {
                // (b & d) | (c & !d)
                let f = _mm256_or_si256(_mm256_and_si256(b, d), _mm256_andnot_si256(d, c));
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 32..48 {
                let f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for i in 48..64 {
                // c ^ (b | !d)
                let f = _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)));
                (a, b, c, d) = (d, step(a, b, f, i, message[word_index(i)]), b, c);
            }
            for (word, round) in state.iter_mut().zip([a, b, c, d]) {
                *word = _mm256_blendv_epi8(*word, _mm256_add_epi32(*word, round), active);
            }
        }
        (0..lanes.len())
            .map(|lane| {
                let mut digest = [0u8; 16];
                let index = _mm256_set1_epi32(lane as i32);
                for (bytes, word) in digest.chunks_exact_mut(4).zip(&state) {
                    let value = _mm256_cvtsi256_si32(_mm256_permutevar8x32_epi32(*word, index)) as u32;
                    bytes.copy_from_slice(&value.to_le_bytes());
                }
                digest
            })
            .collect()
    }

    /// Computes one step: `b + ((a + f + K[i] + m) <<< s)`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step(a: __m256i, b: __m256i, f: __m256i, i: usize, m: __m256i) -> __m256i {
        let constant = _mm256_set1_epi32(K[i] as i32);
        let sum = _mm256_add_epi32(_mm256_add_epi32(a, f), _mm256_add_epi32(constant, m));
        let rotation = ROTATIONS[i / 16][i % 4] as i32;
        let left = _mm256_sllv_epi32(sum, _mm256_set1_epi32(rotation));
        let right = _mm256_srlv_epi32(sum, _mm256_set1_epi32(32 - rotation));
        _mm256_add_epi32(b, _mm256_or_si256(left, right))
    }

    /// Turns one bit a lane into a vector whose lanes are all ones or all
    /// zeros, as `_mm256_blendv_epi8` selects by.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn lane_mask(bits: u32) -> __m256i {
        let m = |lane: u32| if bits >> lane & 1 == 1 { -1 } else { 0 };
        _mm256_set_epi32(m(7), m(6), m(5), m(4), m(3), m(2), m(1), m(0))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(lanes: &[u32; LANES]) -> __m256i {
        let w = lanes.map(|word| word as i32);
        _mm256_set_epi32(w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs whose lengths cross every padding boundary, filled with bytes
    /// that differ from input to input.
    fn inputs(count: usize, seed: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|n| {
                let len = match (n + seed) % 6 {
                    0 => 0,
                    1 => 55 + n % 3,
                    2 => 63 + n % 3,
                    3 => 119 + n % 3,
                    4 => 1024,
                    _ => (n * 97 + seed * 31) % 3000,
                };
                (0..len).map(|i| (i * 31 + n * 7 + seed) as u8).collect()
            })
            .collect()
    }

    #[test]
    fn batches_match_single_digests() {
        for count in 0..=40 {
            let inputs = inputs(count, count);
            let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let expected: Vec<[u8; 16]> = refs.iter().map(|input| Md5::digest(input).into()).collect();
            assert_eq!(digest_each(&refs), expected, "{count} inputs");
        }
    }

    /// Runs each vector kernel the CPU has on every batch size it takes,
    /// whichever one `digest_each` would pick.
    #[test]
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    fn each_kernel_matches_single_digests() {
        for count in 0..=16 {
            let inputs = inputs(count, count + 7);
            let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
            let expected: Vec<[u8; 16]> = refs.iter().map(|input| Md5::digest(input).into()).collect();
            if std::arch::is_x86_feature_detected!("avx512f") {
                // Safety: the CPU has AVX-512F.
                assert_eq!(unsafe { avx512::digest_lanes(&refs) }, expected, "AVX-512, {count} inputs");
            }
            if std::arch::is_x86_feature_detected!("avx2") && count <= avx2::LANES {
                // Safety: the CPU has AVX2.
                assert_eq!(unsafe { avx2::digest_lanes(&refs) }, expected, "AVX2, {count} inputs");
            }
        }
    }

    #[test]
    fn known_digests_side_by_side() {
        let inputs: [&[u8]; 3] = [b"", b"abc", b"The quick brown fox jumps over the lazy dog"];
        let digests: Vec<String> =
            digest_each(&inputs).iter().map(|d| d.iter().map(|b| format!("{b:02x}")).collect()).collect();
        assert_eq!(
            digests,
            [
                "d41d8cd98f00b204e9800998ecf8427e",
                "900150983cd24fb0d6963f7d28e17f72",
                "9e107d9d372bb6826bd81d3542a419d6"
            ]
        );
    }
}
