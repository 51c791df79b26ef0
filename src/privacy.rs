//! Citizens' identities (SPEC §3): message authors are stored only as HMAC-SHA256 with a
//! per-warehouse secret, and message text is never stored.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The warehouse's HMAC key, with the HMAC state it keys (the key's two padded blocks hashed once,
/// not for every author).
#[derive(Clone)]
pub struct Secret(Vec<u8>, Hmac<Sha256>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no randomness for the warehouse secret: {0}")]
    NoRandomness(getrandom::Error),
    #[error("the warehouse secret is not hex")]
    NotHex,
    #[error("the warehouse secret is too short")]
    TooShort,
}

impl Secret {
    pub fn generate() -> Result<Secret, SecretError> {
        let mut key = vec![0u8; 32];
        getrandom::fill(&mut key).map_err(SecretError::NoRandomness)?;
        Ok(Secret::keyed(key))
    }
    pub fn from_hex(s: &str) -> Result<Secret, SecretError> {
        let key = hex::decode(s.trim()).map_err(|_| SecretError::NotHex)?;
        if key.len() < 16 {
            return Err(SecretError::TooShort);
        }
        Ok(Secret::keyed(key))
    }
    fn keyed(key: Vec<u8>) -> Secret {
        let mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
        Secret(key, mac)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
    /// The keyed hash of an author identity (留言人, openid, creator_hash), hex encoded.
    pub fn author_hash(&self, author: &str) -> String {
        let mut mac = self.1.clone();
        mac.update(author.trim().as_bytes());
        let digest = mac.finalize().into_bytes();
        // Into 64 bytes on the stack and copied once (`hex::encode` collects a char at a time).
        let mut hex = [0u8; 64];
        match hex::encode_to_slice(digest, &mut hex).ok().and_then(|()| std::str::from_utf8(&hex).ok()) {
            Some(text) => text.to_string(),
            None => hex::encode(digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = Secret::from_hex("00112233445566778899aabbccddeeff").unwrap();
        let b = Secret::from_hex("ffeeddccbbaa99887766554433221100").unwrap();
        assert_eq!(a.author_hash("居民甲"), a.author_hash(" 居民甲 "));
        assert_ne!(a.author_hash("居民甲"), b.author_hash("居民甲"));
        assert_eq!(a.author_hash("x").len(), 64);
        // RFC 4231 test case 2.
        let k = Secret::keyed(b"Jefe".to_vec());
        assert_eq!(k.author_hash("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
