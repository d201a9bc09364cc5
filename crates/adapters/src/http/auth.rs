//! Authentication: bearer JWTs (ES256 or RS256) verified against the configured keys, and
//! the caller they name handed to the handlers.
//!
//! - [`authenticate`] (middleware, on every route): a request with an `Authorization` header
//!   must carry a valid bearer token, or it is answered `401` at once; a valid token puts its
//!   [`Caller`] into the request. A request without the header goes on anonymous: reading the
//!   catalogue, health and metrics need no token.
//! - [`Authenticated`] (extractor): the caller, or `401` with `WWW-Authenticate: Bearer` when
//!   the request had none. [`Authenticated::require`] answers `403` when the caller's role may
//!   not do the action (the rules are the domain's: [`domain::access`]).
//!
//! A token is valid when its signature verifies with one of the keys (by `kid`, or any key of
//! the algorithm's family when it names none), its `iss` and `aud` are the configured ones, its
//! `exp` is in the future and its `nbf` (when present) in the past, both within the leeway, by
//! the clock port; its `sub` is a valid customer reference and its `role` (or one of its
//! `roles`) is `customer` or `admin` (`admin` wins when both are named).
//!
//! - [`keys`]: the PEM key or the JWKS (refreshed, last good keys kept).
//! - [`issue`]: key pairs and token signing, for the standalone system and tests.
//! - [`openapi`]: the bearer scheme and the `401`/`403`/`429` answers in the documents.

pub mod issue;
pub mod keys;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use anyhow::Context;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use domain::{Action, Caller, CustomerId, Role};
use ports::clock::Clock;

use super::ApiError;
pub use keys::{JwksCache, KeySource, VerifyingKey};

/// The `realm` of every challenge.
const REALM: &str = "shop";
/// The algorithms accepted: asymmetric only, so that a verifier never holds a signing secret.
const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// `[auth]`: who issues the tokens the service accepts, and where its keys are.
#[derive(Clone, Debug, Deserialize)]
pub struct AuthSettings {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of its audiences).
    pub audience: String,
    /// Tolerated clock skew for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// A PEM public key (EC P-256 or RSA) given inline.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// A file holding the PEM public key.
    #[serde(default)]
    pub public_key_file: Option<String>,
    /// The identity provider's JWKS URL (`https://.../.well-known/jwks.json`).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Seconds between two JWKS fetches.
    pub jwks_refresh_secs: u64,
}

/// Why a token was refused, as told to the client in `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or claims of the wrong shape.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with an algorithm this service does not accept.
    #[error("the token's algorithm is not accepted (ES256 or RS256)")]
    Algorithm,
    /// No key matches, or the signature does not verify.
    #[error("the token's signature does not verify")]
    Signature,
    /// Another issuer.
    #[error("the token's issuer is not accepted")]
    Issuer,
    /// Meant for another audience.
    #[error("the token is not meant for this service")]
    Audience,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `sub` is not a customer reference.
    #[error("the token's subject is not a valid customer reference")]
    Subject,
    /// No known role.
    #[error("the token names no known role (customer or admin)")]
    Role,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Verifies bearer tokens.
#[derive(Clone, Debug)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: KeySource,
    issuer: String,
    audience: String,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
    /// Tokens whose signature and claims verified, by their SHA-256: a client sends the
    /// same token with every request, and the signature check is most of a request's CPU.
    /// Time is still checked on every use; an entry lives at most [`VERIFIED_TTL`], so a key
    /// withdrawn from the JWKS stops being honoured within that.
    verified: moka::sync::Cache<[u8; 32], Verified>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// How long a verified token is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How many verified tokens are remembered.
const VERIFIED_CAPACITY: u64 = 10_000;

/// What a verified token said.
#[derive(Clone, Debug)]
struct Verified {
    caller: Caller,
    exp: i64,
    nbf: Option<i64>,
}

impl Authenticator {
    /// A verifier of tokens from `issuer` for `audience`, signed with one of `keys`.
    pub fn new(
        keys: KeySource,
        issuer: &str,
        audience: &str,
        leeway: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys,
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
                leeway_secs: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
                clock,
                verified: moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_CAPACITY)
                    .time_to_live(VERIFIED_TTL)
                    .build(),
            }),
        }
    }

    /// The verifier the settings describe. With a JWKS URL, the cache is returned too: the
    /// caller runs [`JwksCache::run`] beside the server.
    pub fn from_settings(
        settings: &AuthSettings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<(Self, Option<Arc<JwksCache>>)> {
        let inline = settings
            .public_key_pem
            .as_deref()
            .filter(|p| !p.trim().is_empty());
        let file = settings
            .public_key_file
            .as_deref()
            .filter(|p| !p.is_empty());
        let jwks = settings.jwks_url.as_deref().filter(|u| !u.is_empty());
        let (keys, cache) = match (inline, file, jwks) {
            (Some(pem), None, None) => (static_key(pem)?, None),
            (None, Some(path), None) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read the public key file {path}"))?;
                (static_key(&pem)?, None)
            }
            (None, None, Some(url)) => {
                let cache = Arc::new(JwksCache::new(url, Duration::from_secs(5))?);
                (KeySource::Jwks(Arc::clone(&cache)), Some(cache))
            }
            (None, None, None) => anyhow::bail!(
                "[auth] names no key: set public_key_pem, public_key_file or jwks_url"
            ),
            _ => anyhow::bail!(
                "[auth] names more than one key source: set only one of public_key_pem, \
                 public_key_file and jwks_url"
            ),
        };
        let leeway = Duration::from_secs(settings.leeway_secs);
        Ok((
            Self::new(keys, &settings.issuer, &settings.audience, leeway, clock),
            cache,
        ))
    }

    /// The caller a token names, if the token is valid.
    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        use sha2::{Digest, Sha256};
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let verified = match self.inner.verified.get(&digest) {
            Some(verified) => verified,
            None => {
                let verified = self.verify_signed(token)?;
                self.inner.verified.insert(digest, verified.clone());
                verified
            }
        };
        let now = self.inner.clock.now().timestamp();
        let leeway = self.inner.leeway_secs;
        if now > verified.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if verified
            .nbf
            .is_some_and(|nbf| now < nbf.saturating_sub(leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        Ok(verified.caller)
    }

    /// The signature, the issuer, the audience, the subject and the role: everything but the
    /// time, which changes between two uses of a token.
    fn verify_signed(&self, token: &str) -> Result<Verified, TokenError> {
        let inner = &self.inner;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(TokenError::Algorithm);
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&inner.issuer]);
        validation.set_audience(&[&inner.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // Time is checked by the caller, by the clock port.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let candidates = inner.keys.candidates(header.kid.as_deref(), header.alg);
        let mut outcome = Err(TokenError::Signature);
        for key in &candidates {
            outcome = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
                .map(|data| data.claims)
                .map_err(refusal);
            if !matches!(outcome, Err(TokenError::Signature)) {
                break;
            }
        }
        let claims = outcome?;
        let subject = CustomerId::parse(&claims.sub).map_err(|_| TokenError::Subject)?;
        let named = claims.role.iter().chain(&claims.roles);
        let roles: Vec<Role> = named.filter_map(|r| Role::parse(r)).collect();
        let role = if roles.contains(&Role::Admin) {
            Role::Admin
        } else if roles.contains(&Role::Customer) {
            Role::Customer
        } else {
            return Err(TokenError::Role);
        };
        Ok(Verified {
            caller: Caller::new(subject, role),
            exp: claims.exp,
            nbf: claims.nbf,
        })
    }
}

fn static_key(pem: &str) -> anyhow::Result<KeySource> {
    Ok(KeySource::Static(Arc::new(vec![VerifyingKey::from_pem(
        pem, None,
    )?])))
}

fn refusal(error: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => TokenError::Signature,
        ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
        _ => TokenError::Malformed,
    }
}

/// The challenge of a request without credentials.
fn challenge() -> HeaderValue {
    HeaderValue::from_static("Bearer realm=\"shop\"")
}

/// `401` for a token that does not verify.
fn invalid_token(error: &TokenError) -> ApiError {
    let value =
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{error}\"");
    ApiError::unauthorized(
        "invalid_token",
        error.to_string(),
        HeaderValue::from_str(&value).unwrap_or_else(|_| challenge()),
    )
}

/// Verifies the bearer token of a request that has one (see the module documentation).
pub async fn authenticate<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    match caller_of(&req) {
        Ok(None) => {}
        Ok(Some(caller)) => {
            let mut extensions = req.extensions_mut();
            // The rate limiter's key: the caller, not its address.
            extensions.insert(super::rate_limit::CallerKey(
                caller.subject().as_str().to_owned(),
            ));
            extensions.insert(caller);
        }
        Err(refused) => {
            let response = refused.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The caller a request's `Authorization` header names: `None` without the header.
fn caller_of(req: &ServiceRequest) -> Result<Option<Caller>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid_token(&TokenError::Malformed))?;
    let authenticator = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authenticator configured")))?;
    authenticator
        .verify(token)
        .map(Some)
        .map_err(|error| invalid_token(&error))
}

/// The authenticated caller of a request (`401` when there is none).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl Authenticated {
    /// The caller, when its role allows `action`; else `403`.
    pub fn require(&self, action: Action) -> Result<&Caller, ApiError> {
        self.0
            .require(action)
            .map(|()| &self.0)
            .map_err(|refused| ApiError::forbidden(refused.to_string()))
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .map(Authenticated)
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "unauthenticated",
                        "this operation needs a bearer token",
                        challenge(),
                    )
                }),
        )
    }
}

#[cfg(test)]
mod tests;
