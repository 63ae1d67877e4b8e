//! The Internet checksum (RFC 1071) as the forwarder needs it: partial sums that can be
//! added up over pieces (header, pseudo-header, payload), then folded and stored.
//!
//! Sums are taken over the bytes in native order. The ones' complement sum is
//! byte-order independent (RFC 1071, 2.B), so a sum folded and stored back with
//! `to_ne_bytes` is the checksum in network order on any host; no swapping per word.
//! Every piece must start at an even offset of the checksummed stream, which holds for all
//! callers: IP and TCP headers are multiples of 4 bytes, and each segment's payload is
//! summed on its own.

/// Adds the 16-bit words of `data` to `acc`, unfolded. A trailing odd byte counts as if
/// followed by a zero byte. Sums of up to 4 GiB cannot overflow.
#[inline]
pub(crate) fn sum(data: &[u8], acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    // 32-bit words into a 64-bit accumulator: no carry handling in the loop, and the loop
    // vectorises. A u32 word is two u16 words modulo 0xffff, so folding gives the same sum.
    let mut s: u64 = 0;
    for c in &mut chunks {
        s += u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    s += u64::from(u32::from_ne_bytes(tail));
    acc + s
}

/// Copies `src` into `dst` (of the same length) and returns `sum(src, acc)`: one pass over
/// the bytes instead of two, for segmentation, which copies each segment's payload next to
/// its header and needs its checksum.
#[inline]
pub(crate) fn copy_sum(dst: &mut [u8], src: &[u8], acc: u64) -> u64 {
    assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above), and the slices have the same length.
        return unsafe { copy_sum_avx2(dst, src, acc) };
    }
    dst.copy_from_slice(src);
    sum(src, acc)
}

/// [`copy_sum`] 64 bytes at a time: each 32-bit word's two 16-bit halves are added into
/// separate 32-bit lanes (no carries to handle), which are added up at the end. A lane takes
/// at most 2048 halves of at most 0xffff per 64 KiB, so blocks of 64 KiB cannot overflow.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_sum_avx2(dst: &mut [u8], src: &[u8], acc: u64) -> u64 {
    use std::arch::x86_64::*;
    let mut total = acc;
    let mut done = 0;
    for (d, s) in dst.chunks_mut(1 << 16).zip(src.chunks(1 << 16)) {
        let n = s.len() / 64 * 64;
        let mask = _mm256_set1_epi32(0xffff);
        let (mut lo0, mut hi0) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let (mut lo1, mut hi1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut i = 0;
        while i < n {
            // SAFETY: i + 64 <= n <= the length of both slices; unaligned loads and stores.
            let (a, b) = unsafe {
                let a = _mm256_loadu_si256(s.as_ptr().add(i).cast());
                let b = _mm256_loadu_si256(s.as_ptr().add(i + 32).cast());
                _mm256_storeu_si256(d.as_mut_ptr().add(i).cast(), a);
                _mm256_storeu_si256(d.as_mut_ptr().add(i + 32).cast(), b);
                (a, b)
            };
            lo0 = _mm256_add_epi32(lo0, _mm256_and_si256(a, mask));
            hi0 = _mm256_add_epi32(hi0, _mm256_srli_epi32(a, 16));
            lo1 = _mm256_add_epi32(lo1, _mm256_and_si256(b, mask));
            hi1 = _mm256_add_epi32(hi1, _mm256_srli_epi32(b, 16));
            i += 64;
        }
        let mut lanes = [[0u32; 8]; 2];
        // SAFETY: each array is 32 bytes; unaligned stores.
        unsafe {
            _mm256_storeu_si256(lanes[0].as_mut_ptr().cast(), _mm256_add_epi32(lo0, lo1));
            _mm256_storeu_si256(lanes[1].as_mut_ptr().cast(), _mm256_add_epi32(hi0, hi1));
        }
        for (lo, hi) in lanes[0].iter().zip(&lanes[1]) {
            total += u64::from(*lo) + (u64::from(*hi) << 16);
        }
        // The rest starts at an even offset (a multiple of 64), as sum needs.
        d[n..].copy_from_slice(&s[n..]);
        total = sum(&s[n..], total);
        done += s.len();
    }
    debug_assert_eq!(done, src.len());
    total
}

/// Folds a partial sum to 16 bits (not complemented), in native order.
#[inline]
pub(crate) fn fold(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The checksum field's bytes for a partial sum: complemented and folded.
#[inline]
pub(crate) fn finish(s: u64) -> [u8; 2] {
    (!fold(s)).to_ne_bytes()
}

/// True when `data`, checksum field included, sums to all ones (a valid checksum).
#[inline]
pub(crate) fn verify(data: &[u8]) -> bool {
    fold(sum(data, 0)) == 0xffff
}

/// The TCP/UDP pseudo-header sum (RFC 793, RFC 8200 8.1) for addresses given as 4 or 16
/// bytes each, upper-layer protocol `proto` and upper-layer length `len`.
#[inline]
pub(crate) fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u64 {
    // The IPv4 form (zero, proto, 16-bit length) and the IPv6 form (32-bit length, three
    // zeros, next header) have the same 16-bit words once zeros are dropped.
    let acc = sum(src, 0) + sum(dst, 0) + sum(&[0, proto], 0);
    sum(&(len as u32).to_be_bytes(), acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, word by word in network order, to check the fast one.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            s += u32::from(word);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn matches_the_reference_for_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for start in 0..4 {
            for len in 0..200 {
                let piece = &data[start..start + len];
                assert_eq!(finish(sum(piece, 0)), reference(piece).to_be_bytes(), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn rfc1071_example_and_verification() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2; checksum 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)).to_ne_bytes(), [0xdd, 0xf2]);
        assert_eq!(finish(sum(&data, 0)), [0x22, 0x0d]);
        let mut with_field = data.to_vec();
        with_field.extend_from_slice(&[0x22, 0x0d]);
        assert!(verify(&with_field));
        with_field[3] ^= 1;
        assert!(!verify(&with_field));
    }

    #[test]
    fn long_inputs_agree_with_the_reference() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        for (start, len) in [(1, 257), (3, 1423), (0, 65_535), (2, 69_000)] {
            let piece = &data[start..start + len];
            assert_eq!(finish(sum(piece, 0)), reference(piece).to_be_bytes(), "start {start} len {len}");
        }
    }

    #[test]
    fn copy_sum_copies_and_sums_like_sum() {
        let data: Vec<u8> = (0..140_000u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        for (start, len) in [(0, 0), (1, 1), (3, 63), (0, 64), (2, 65), (1, 1420), (0, 65_535), (5, 131_073)] {
            let src = &data[start..start + len];
            let mut dst = vec![0u8; len];
            assert_eq!(fold(copy_sum(&mut dst, src, 7)), fold(sum(src, 7)), "start {start} len {len}");
            assert_eq!(dst, src);
        }
        // All ones: the largest halves, to show the lanes do not overflow.
        let ones = vec![0xffu8; 65_536 * 2];
        let mut dst = vec![0u8; ones.len()];
        assert_eq!(fold(copy_sum(&mut dst, &ones, 0)), fold(sum(&ones, 0)));
    }

    #[test]
    fn pieces_add_up_to_the_whole() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = fold(sum(&data, 0));
        let pieces = sum(&data[600..], sum(&data[20..600], sum(&data[..20], 0)));
        assert_eq!(fold(pieces), whole);
    }

    #[test]
    fn a_known_ipv4_header() {
        // From Wikipedia's "Internet checksum" example: checksum b861.
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(finish(sum(&header, 0)), [0xb8, 0x61]);
        header[10..12].copy_from_slice(&[0xb8, 0x61]);
        assert!(verify(&header));
    }
}
