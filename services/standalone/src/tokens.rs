//! The standalone system's own tokens. It has no identity provider, so unless `[auth]` names a
//! key it makes an ES256 key pair on first start (in `data_dir/keys`, the private key readable
//! by its owner only; a fresh pair per run when the data lives in memory), verifies with its
//! public key, and signs tokens on request: `standalone token --sub alice --role customer`.

use std::path::Path;

use adapters::http::auth::AuthSettings;
use adapters::http::auth::issue::{KeyPair, TokenIssuer};
use domain::Role;

/// How long a token made by `standalone token` lasts unless told otherwise.
pub const DEFAULT_TTL_HOURS: i64 = 12;

/// Whether `auth` names a key of its own (then the system signs nothing).
pub fn has_key(auth: &AuthSettings) -> bool {
    [&auth.public_key_pem, &auth.public_key_file, &auth.jwks_url]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
}

/// The system's own signer, with `auth` set to verify its tokens; `None` when `auth` names a
/// key (tokens then come from that key's owner). `data_dir` is `None` for an in-memory system.
pub fn own_issuer(
    auth: &mut AuthSettings,
    data_dir: Option<&Path>,
) -> anyhow::Result<Option<TokenIssuer>> {
    if has_key(auth) {
        return Ok(None);
    }
    let pair = match data_dir {
        Some(dir) => {
            let (pair, made) = KeyPair::load_or_create(&dir.join("keys"))?;
            if made {
                tracing::info!(dir = %dir.join("keys").display(), "made the signing key");
            }
            pair
        }
        None => KeyPair::generate()?,
    };
    auth.public_key_pem = Some(pair.public_pem.clone());
    Ok(Some(TokenIssuer::new(
        &pair,
        None,
        &auth.issuer,
        &auth.audience,
    )?))
}

/// `standalone token` arguments: `--sub NAME --role customer|admin [--ttl-hours N]`.
#[derive(Debug)]
pub struct TokenRequest {
    /// The subject (the customer reference for a customer).
    pub subject: String,
    /// The role.
    pub role: Role,
    /// Lifetime.
    pub ttl: chrono::Duration,
}

impl TokenRequest {
    /// Parses the arguments after `token`; the rest (`--data-dir` ...) is returned for the
    /// settings.
    pub fn parse(args: Vec<String>) -> anyhow::Result<(Self, Vec<String>)> {
        let (mut subject, mut role, mut ttl_hours) = (None, None, DEFAULT_TTL_HOURS);
        let mut rest = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--sub" => subject = Some(value()?),
                "--role" => {
                    let name = value()?;
                    role = Some(Role::parse(&name).ok_or_else(|| {
                        anyhow::anyhow!("--role {name}: expected customer or admin")
                    })?);
                }
                "--ttl-hours" => ttl_hours = value()?.parse()?,
                _ => rest.push(arg),
            }
        }
        let subject = subject.ok_or_else(|| anyhow::anyhow!("token needs --sub NAME"))?;
        domain::CustomerId::parse(&subject)?;
        Ok((
            Self {
                subject,
                role: role.unwrap_or(Role::Customer),
                ttl: chrono::Duration::hours(ttl_hours),
            },
            rest,
        ))
    }
}
