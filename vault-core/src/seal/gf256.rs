//! Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1.
//!
//! Constant time: no table look-ups and no branches on the operands, so the time a
//! share combination takes says nothing about the key bytes.

/// `a * b` in GF(256).
pub fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        // All-ones when the low bit of b is set, else zero.
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// The multiplicative inverse of `a` (a^254); 0 maps to 0.
pub fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110, a fixed exponent: the same steps for every `a`.
    let mut result = 1u8;
    let mut power = a;
    for bit in 0..8 {
        if (254u8 >> bit) & 1 == 1 {
            result = mul(result, power);
        }
        power = mul(power, power);
    }
    result
}

/// `a / b`; dividing by zero gives zero (callers never divide by zero: the
/// x-coordinates are checked distinct).
pub fn div(a: u8, b: u8) -> u8 {
    mul(a, inv(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_from_fips_197() {
        // FIPS-197 section 4.2: {57} * {83} = {c1}, {57} * {13} = {fe}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        // {53} and {ca} are inverses (the AES S-box example).
        assert_eq!(inv(0x53), 0xca);
        assert_eq!(mul(0x53, 0xca), 0x01);
    }

    #[test]
    fn every_nonzero_element_has_an_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "a = {a:#x}");
        }
        assert_eq!(inv(0), 0);
    }

    #[test]
    fn multiplication_commutes_and_distributes() {
        for a in (0..=255u8).step_by(7) {
            for b in (0..=255u8).step_by(11) {
                assert_eq!(mul(a, b), mul(b, a));
                assert_eq!(mul(a, b ^ 0x35), mul(a, b) ^ mul(a, 0x35));
            }
        }
    }
}
