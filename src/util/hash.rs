//! Content hashes: 128 bits of blake3, plenty to tell versions of a file apart.

/// A truncated blake3 hash.
pub type Hash = [u8; 16];

/// The hash recorded for a file that does not exist.
pub const ABSENT: Hash = [0u8; 16];

/// The hash recorded for a file that exists but cannot be read: never equal to a content hash
/// in practice, so a stamp never matches it.
pub const UNREADABLE: Hash = [0xff; 16];

/// The hash of some bytes.
pub fn hash_bytes(bytes: &[u8]) -> Hash {
    truncate(&blake3::hash(bytes))
}

/// The recorded form of a full blake3 hash (for content hashed as a stream).
pub fn truncate(full: &blake3::Hash) -> Hash {
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    out
}

/// A hash computed from several pieces, gathered first: one hasher call per tiny piece would cost
/// more than the hashing.
#[derive(Debug, Default)]
pub struct Digest {
    buf: Vec<u8>,
}

impl Digest {
    pub fn new() -> Self {
        Digest { buf: Vec::with_capacity(512) }
    }

    /// Adds bytes, length-prefixed so that pieces cannot run into each other.
    pub fn piece(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Adds raw bytes (fixed-size values).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn finish(&self) -> Hash {
        hash_bytes(&self.buf)
    }
}

/// The hash of the concatenation of `pieces`, without building it.
pub fn hash_concat(pieces: &[&str]) -> Hash {
    let mut h = blake3::Hasher::new();
    for p in pieces {
        h.update(p.as_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

/// Eight hex digits for people (`absent` for a file that is not there).
pub fn short_hex(h: &Hash) -> String {
    match *h {
        ABSENT => "absent".to_string(),
        UNREADABLE => "unreadable".to_string(),
        _ => h.iter().take(4).map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_delimited() {
        let a = Digest::new().piece(b"ab").piece(b"c").finish();
        let b = Digest::new().piece(b"a").piece(b"bc").finish();
        assert_ne!(a, b);
        assert_eq!(short_hex(&ABSENT), "absent");
        assert_eq!(short_hex(&[0xab; 16]), "abababab");
        assert_eq!(hash_concat(&["T0/00", "/", "agent"]), hash_bytes(b"T0/00/agent"));
    }
}
