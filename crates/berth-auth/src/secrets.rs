//! Secrets Berth hands out (session cookies, API tokens, setup links,
//! one-time codes): 256 random bits, stored only as a keyed BLAKE3 hash.

/// Every personal access token starts with this, so leaked tokens can be
/// found by secret scanners.
pub const PAT_PREFIX: &str = "berth_pat_";
/// Tokens made by `berth login`.
pub const CLI_PREFIX: &str = "berth_cli_";
/// Short-lived tokens for the Kubernetes API proxy.
pub const KUBE_PREFIX: &str = "berth_kube_";
/// Every prefix a Berth token starts with.
pub const PREFIXES: [&str; 3] = [PAT_PREFIX, CLI_PREFIX, KUBE_PREFIX];

/// 64 hex characters of fresh randomness.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short random id for records that are listed (tokens).
pub fn random_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone)]
pub struct Hasher {
    key: [u8; 32],
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(..)")
    }
}

impl Hasher {
    pub fn new(key: [u8; 32]) -> Hasher {
        Hasher { key }
    }

    pub fn hash(&self, secret: &str) -> String {
        blake3::keyed_hash(&self.key, secret.as_bytes())
            .to_hex()
            .to_string()
    }

    /// Whether `hex` is [`Hasher::hash`] of `message`, compared in constant
    /// time.
    pub fn verify(&self, message: &str, hex: &str) -> bool {
        blake3::Hash::from_hex(hex)
            .is_ok_and(|given| given == blake3::keyed_hash(&self.key, message.as_bytes()))
    }
}
