//! Identifiers that begin with the time they were made.
//!
//! Records keyed by a random name land on a random storage page, so every
//! commit that adds some writes one page (and its parents) per record. Lease
//! ids, tokens and accessors therefore start with their issue time in
//! milliseconds, in base 62 so that byte order is time order, and the records
//! keyed by them are appended at the end of their key range instead.

use crate::random::{self, RandomError};

/// The characters of the time prefix.
pub(crate) const TIME_LEN: usize = 8;

/// `TIME_LEN` base-62 digits of the current time, then `random_len` random
/// alphanumerics.
pub(crate) fn new_id(random_len: usize) -> Result<String, RandomError> {
    Ok(format!(
        "{}{}",
        time_prefix(crate::clock::now_unix_millis()),
        random::alphanumeric(random_len)?
    ))
}

/// The time prefix of `id` if it is one made by [`new_id`] with
/// `random_len` random characters (judged by its length and alphabet alone:
/// an id from before time prefixes has none, and a forged one only names a
/// key that holds nothing).
pub(crate) fn prefix_of(id: &str, random_len: usize) -> Option<&str> {
    (id.len() == TIME_LEN + random_len && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| &id[..TIME_LEN])
}

/// `ms` in base 62 with [`TIME_LEN`] digits (`0-9A-Za-z`, ascending in
/// ASCII); the top digits wrap after about 6,900 years.
fn time_prefix(ms: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; TIME_LEN];
    let mut rest = ms;
    for digit in out.iter_mut().rev() {
        *digit = DIGITS[usize::try_from(rest % 62).unwrap_or(0)];
        rest /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_time_order_and_their_prefix_is_found_again() {
        assert_eq!(time_prefix(0), "00000000");
        assert_eq!(time_prefix(61), "0000000z");
        assert_eq!(time_prefix(62), "00000010");
        let times = [
            1_700_000_000_000,
            1_700_000_000_001,
            1_800_000_000_000,
            62u64.pow(8) - 1,
        ];
        for pair in times.windows(2) {
            assert!(time_prefix(pair[0]) < time_prefix(pair[1]), "{pair:?}");
        }
        let id = new_id(16).unwrap();
        assert_eq!(id.len(), TIME_LEN + 16);
        assert_eq!(prefix_of(&id, 16), Some(&id[..TIME_LEN]));
        assert_ne!(id[TIME_LEN..], new_id(16).unwrap()[TIME_LEN..]);
        // Another length, or a character outside the alphabet, is no such id.
        assert_eq!(prefix_of(&id, 24), None);
        assert_eq!(prefix_of("0000000/aaaaaaaaaaaaaaaa", 16), None);
        assert_eq!(prefix_of("", 0), None);
    }
}
