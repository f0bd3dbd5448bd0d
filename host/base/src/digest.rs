//! Content digests, `sha256:<hex>`: how savepoint names workflow texts,
//! component bytes and large state values.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    finish(hasher)
}

/// `sha256:<hex>` of what `hasher` was fed (for input read in pieces).
pub fn finish(hasher: Sha256) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in hasher.finalize() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
