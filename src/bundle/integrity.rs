//! Integrity: SHA-256 of files and the Ed25519 signature over the manifest.
//!
//! Verification uses `ed25519_dalek::VerifyingKey::verify_strict`, which rejects the malleable
//! and small-order edge cases that plain `verify` tolerates (RFC 8032 §5.1.7 plus the checks of
//! "Taming the many EdDSAs", Chalkias et al. 2020). Nothing here needs randomness, so it builds
//! for wasm32 without an OS RNG.

use super::manifest::SignatureBlock;
use crate::error::{Error, Result};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// The only signature algorithm of format version 1.
pub const SIGNATURE_ALGORITHM: &str = "ed25519";

/// Lower-case hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decodes exactly `N` bytes of hex (either case); `None` for any other input.
pub fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    encode_hex(&Sha256::digest(bytes))
}

/// An incremental SHA-256, so a file can be hashed while it downloads.
#[derive(Clone, Default)]
pub struct StreamingHash(Sha256);

impl StreamingHash {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// Lower-case hex of the digest.
    pub fn finish_hex(self) -> String {
        encode_hex(&self.0.finalize())
    }
}

impl std::fmt::Debug for StreamingHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamingHash")
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::BadSignature { reason: reason.into() }
}

/// Checks the block's algorithm and encodings, returning the decoded signature.
pub(crate) fn check_signature_shape(sig: &SignatureBlock) -> Result<Signature> {
    if sig.algorithm != SIGNATURE_ALGORITHM {
        return Err(bad(format!("algorithm {:?} is not {SIGNATURE_ALGORITHM}", sig.algorithm)));
    }
    if decode_hex::<32>(&sig.public_key).is_none() {
        return Err(bad("public_key is not 64 hex digits"));
    }
    let bytes = decode_hex::<64>(&sig.value).ok_or_else(|| bad("value is not 128 hex digits"))?;
    Ok(Signature::from_bytes(&bytes))
}

/// Verifies `sig` over `message` with the application's `public_key`.
///
/// # Errors
/// [`Error::BadSignature`] for a malformed block, an invalid key, or a signature that does not
/// verify.
pub(crate) fn verify_signature(
    public_key: &[u8; 32],
    message: &[u8],
    sig: &SignatureBlock,
) -> Result<()> {
    let signature = check_signature_shape(sig)?;
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|_| bad("the configured public key is not a valid Ed25519 point"))?;
    key.verify_strict(message, &signature)
        .map_err(|_| bad("signature does not verify with the configured public key"))
}

/// Signs `message` (the raw manifest bytes) with the 32-byte Ed25519 secret `seed`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn sign(seed: &[u8; 32], message: &[u8]) -> SignatureBlock {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(seed);
    SignatureBlock {
        algorithm: SIGNATURE_ALGORITHM.into(),
        public_key: encode_hex(key.verifying_key().as_bytes()),
        value: encode_hex(&key.sign(message).to_bytes()),
    }
}

/// The public key (32 bytes) of the Ed25519 secret `seed`.
pub fn public_key_of(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(encode_hex(&bytes), "0001abff");
        assert_eq!(decode_hex::<4>("0001ABff"), Some(bytes));
        assert_eq!(decode_hex::<4>("0001abf"), None);
        assert_eq!(decode_hex::<4>("0001abfg"), None);
        assert_eq!(decode_hex::<2>("é1"), None);
    }

    #[test]
    fn sha256_matches_the_fips_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut s = StreamingHash::default();
        s.update(b"a");
        s.update(b"bc");
        assert_eq!(s.finish_hex(), sha256_hex(b"abc"));
    }

    #[test]
    fn signatures_verify_only_with_the_right_key_and_message() {
        let seed = [7u8; 32];
        let sig = sign(&seed, b"manifest");
        let key = public_key_of(&seed);
        assert!(verify_signature(&key, b"manifest", &sig).is_ok());
        assert!(matches!(
            verify_signature(&key, b"manifesT", &sig),
            Err(Error::BadSignature { .. })
        ));
        let other = public_key_of(&[8u8; 32]);
        assert!(verify_signature(&other, b"manifest", &sig).is_err());
        let mut wrong_alg = sig.clone();
        wrong_alg.algorithm = "rsa".into();
        assert!(check_signature_shape(&wrong_alg).is_err());
    }
}
