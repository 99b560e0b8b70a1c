//! The system CSPRNG (through ring), for keys, nonces, shares and tokens.

use ring::rand::{SecureRandom, SystemRandom};

/// The operating system refused to give random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Fills `buf` with bytes from the system CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(buf).map_err(|_| RandomError)
}

/// A random version-4 UUID, as text (used for attempt nonces).
pub fn uuid_v4() -> Result<String, RandomError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    Ok(uuid_text(b))
}

/// A request id in UUID form: unique, but not secret. A per-process random
/// prefix (drawn from the system CSPRNG once) and a counter, so a request
/// costs no system call (drawing 16 bytes per request was 4% of the CPU time
/// of a cached read). Never use it where an id must be unguessable.
pub fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<[u8; 8]> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 8];
        // Without randomness the ids are still unique within the process.
        let _ = fill(&mut b);
        b
    });
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(prefix);
    b[8..].copy_from_slice(&count.to_be_bytes());
    uuid_text(b)
}

/// `b` as UUID text, with the version-4 and variant bits set.
fn uuid_text(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random string of `len` characters from [0-9A-Za-z], without modulo bias.
pub fn alphanumeric(len: usize) -> Result<String, RandomError> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        // 248 = 4 * 62: bytes at or above it would bias the first characters.
        for &byte in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_v4_shape() {
        let id = uuid_v4().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, uuid_v4().unwrap());
    }

    #[test]
    fn request_ids_are_distinct_and_uuid_shaped() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(3) {
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
        }
    }

    #[test]
    fn alphanumeric_has_the_length_and_alphabet() {
        let s = alphanumeric(24).unwrap();
        assert_eq!(s.len(), 24);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
