//! Where the keys that verify tokens come from: a PEM public key given in the settings, or a
//! JWKS fetched from the identity provider, refreshed on a schedule and when a token names a
//! key id not seen yet. A failed fetch keeps the last good keys: an identity provider that is
//! briefly down must not log every caller out.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio_util::sync::CancellationToken;

/// One verification key.
#[derive(Clone)]
pub struct VerifyingKey {
    /// Its `kid`, when it has one.
    pub kid: Option<String>,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, EC P-256 or RSA).
    pub fn from_pem(pem: &str, kid: Option<String>) -> anyhow::Result<Self> {
        let key = DecodingKey::from_ec_pem(pem.as_bytes())
            .or_else(|_| DecodingKey::from_rsa_pem(pem.as_bytes()))
            .context("the public key is neither an EC (P-256) nor an RSA PEM public key")?;
        Ok(Self { kid, key })
    }
}

/// The keys a token may be signed with, and how to pick one.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// Fixed keys from the settings.
    Static(Arc<Vec<VerifyingKey>>),
    /// A JWKS kept fresh in the background.
    Jwks(Arc<JwksCache>),
}

impl KeySource {
    /// The keys that may have signed a token with this `kid` and algorithm: the key with that
    /// id, or every key of the algorithm's family when the token names none.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<VerifyingKey> {
        let keys = match self {
            KeySource::Static(keys) => Arc::clone(keys),
            KeySource::Jwks(cache) => cache.current(),
        };
        let fits = |k: &&VerifyingKey| k.key.family() == alg.family();
        let found: Vec<VerifyingKey> = match kid {
            Some(kid) => keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .filter(fits)
                .cloned()
                .collect(),
            None => keys.iter().filter(fits).cloned().collect(),
        };
        if found.is_empty()
            && kid.is_some()
            && let KeySource::Jwks(cache) = self
        {
            // A key id not seen yet: the provider may have rotated its keys.
            cache.refresh_soon();
        }
        found
    }
}

/// A JWKS and its refreshing.
#[derive(Debug)]
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    keys: RwLock<Arc<Vec<VerifyingKey>>>,
    /// When the last fetch was started: an unknown `kid` triggers at most one fetch per
    /// [`JwksCache::MIN_INTERVAL`], so forged key ids cannot make this hammer the provider.
    last_attempt: Mutex<Option<Instant>>,
    wake: tokio::sync::Notify,
}

impl JwksCache {
    /// The shortest time between two fetches triggered by unknown key ids.
    pub const MIN_INTERVAL: Duration = Duration::from_secs(30);

    /// A cache of the JWKS at `url`, empty until [`JwksCache::refresh`] or [`JwksCache::run`]
    /// fetched it.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("failed to build the JWKS client")?;
        Ok(Self {
            url: url.to_owned(),
            client,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_attempt: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// The keys as last fetched.
    pub fn current(&self) -> Arc<Vec<VerifyingKey>> {
        self.keys
            .read()
            .map_or_else(|p| Arc::clone(&p.into_inner()), |k| Arc::clone(&k))
    }

    /// Fetches the JWKS now; on failure the keys stay as they were.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        if let Ok(mut last) = self.last_attempt.lock() {
            *last = Some(Instant::now());
        }
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("failed to fetch the JWKS from {}", self.url))?
            .json()
            .await
            .context("the JWKS is not a JSON Web Key Set")?;
        let keys: Vec<VerifyingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| match DecodingKey::from_jwk(jwk) {
                Ok(key) => Some(VerifyingKey {
                    kid: jwk.common.key_id.clone(),
                    key,
                }),
                Err(error) => {
                    tracing::warn!(kid = ?jwk.common.key_id, %error, "a JWKS key is unusable; skipped");
                    None
                }
            })
            .collect();
        if keys.is_empty() {
            anyhow::bail!("the JWKS at {} holds no usable key", self.url);
        }
        let count = keys.len();
        if let Ok(mut current) = self.keys.write() {
            *current = Arc::new(keys);
        }
        Ok(count)
    }

    /// Asks the refresh loop to fetch now, unless a fetch started less than
    /// [`JwksCache::MIN_INTERVAL`] ago.
    fn refresh_soon(&self) {
        let recent = self
            .last_attempt
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() < Self::MIN_INTERVAL);
        if !recent {
            self.wake.notify_one();
        }
    }

    /// Fetches at once, then every `every` and whenever asked, until `shutdown`. Until the
    /// first fetch succeeds it retries every few seconds (no token verifies meanwhile).
    pub async fn run(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut have_keys = false;
        loop {
            match self.refresh().await {
                Ok(count) => {
                    if !have_keys {
                        tracing::info!(url = %self.url, keys = count, "JWKS loaded");
                    }
                    have_keys = true;
                }
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "JWKS refresh failed; the last good keys stay in use"
                ),
            }
            let pause = if have_keys {
                every
            } else {
                Duration::from_secs(5)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
