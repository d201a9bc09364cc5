//! Issuing tokens, for the standalone system (which has no identity provider: it makes its own
//! ES256 key on first start and signs tokens on request) and for tests. The services in
//! production only verify.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rand::RngCore;
use serde::Serialize;

use domain::Role;

/// An ES256 key pair as PEM: the private key (PKCS#8) and its public key (SPKI).
#[derive(Clone)]
pub struct KeyPair {
    /// `-----BEGIN PRIVATE KEY-----`.
    pub private_pem: String,
    /// `-----BEGIN PUBLIC KEY-----`.
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh P-256 key pair from the operating system's randomness.
    pub fn generate() -> anyhow::Result<Self> {
        let signing = loop {
            let mut bytes = [0_u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // All but a negligible share of 32-byte strings are valid scalars.
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                break key;
            }
        };
        let private_pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .context("failed to encode the private key")?
            .to_string();
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .context("failed to encode the public key")?;
        Ok(Self {
            private_pem,
            public_pem,
        })
    }

    /// The key pair kept in `dir` (`signing-key.pem`, `signing-key.pub.pem`), made there on
    /// first use with the private key readable by its owner only. Returns whether it was made.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<(Self, bool)> {
        let private = dir.join("signing-key.pem");
        let public = dir.join("signing-key.pub.pem");
        if private.exists() {
            let pair = Self {
                private_pem: std::fs::read_to_string(&private)
                    .with_context(|| format!("failed to read {}", private.display()))?,
                public_pem: std::fs::read_to_string(&public)
                    .with_context(|| format!("failed to read {}", public.display()))?,
            };
            return Ok((pair, false));
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let pair = Self::generate()?;
        write_private(&private, &pair.private_pem)?;
        std::fs::write(&public, &pair.public_pem)
            .with_context(|| format!("failed to write {}", public.display()))?;
        Ok((pair, true))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("failed to write {}", path.display()))
}

/// The claims this system's tokens carry.
#[derive(Debug, Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    role: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Signs tokens with one ES256 key.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    kid: Option<String>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `pair`'s private key, naming `issuer` and `audience`.
    pub fn new(
        pair: &KeyPair,
        kid: Option<String>,
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_ec_pem(pair.private_pem.as_bytes())
                .context("the private key is not an EC PEM key")?,
            kid,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A token for `subject` in `role`, valid from `now` for `ttl`.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> anyhow::Result<String> {
        self.issue_for(subject, role.as_str(), &self.audience, now, ttl)
    }

    /// A token with any role name and audience (tests of refused tokens).
    pub fn issue_for(
        &self,
        subject: &str,
        role: &str,
        audience: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid.clone_from(&self.kid);
        let claims = IssuedClaims {
            sub: subject,
            role,
            iss: &self.issuer,
            aud: audience,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key).context("failed to sign the token")
    }
}
