//! Password hashing with Argon2id (the `argon2` crate's defaults follow the
//! OWASP recommendation). Hashing is CPU-bound, so it runs off the async
//! workers.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use berth_core::Error;

pub const MIN_LENGTH: usize = crate::rules::NewPassword::MIN;

pub fn check_strength(password: &str) -> Result<(), Error> {
    if !crate::rules::NewPassword::is_valid(password) {
        return Err(Error::invalid(
            "password",
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| Error::internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task: {e}")))?
}

/// Verifies `password` against `stored`; with no stored hash it still does
/// the work of one verification, so timing does not reveal unknown users.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1tGsBq04VtSmHUM8oHqdw5YTwQxbxYz4nOYg7/V3yjQ";
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (DECOY, false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && real
    })
    .await
    .unwrap_or(false)
}
