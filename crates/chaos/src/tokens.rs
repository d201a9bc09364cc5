//! The run's credentials: one ES256 key pair per run, whose public key every service start is
//! given, and the tokens signed with it. The harness's client sends an admin's token by
//! default (products, warm-up, dead letters, reading any order back); each logical order is
//! placed by its own customer with that customer's token, as real clients do.

use anyhow::Context;
use reqwest::header::HeaderValue;

use adapters::http::auth::issue::{KeyPair, TokenIssuer};
use domain::Role;

/// The `iss` the services are told to accept.
const ISSUER: &str = "chaos";
/// The `aud` the services are told to accept.
const AUDIENCE: &str = "shop-api";
/// Longer than any run.
const TTL_HOURS: i64 = 12;

/// The run's public key and a signer for its tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    public_pem: String,
    issuer: TokenIssuer,
}

impl Tokens {
    /// A fresh key pair.
    pub fn generate() -> anyhow::Result<Self> {
        let pair = KeyPair::generate()?;
        Ok(Self {
            issuer: TokenIssuer::new(&pair, None, ISSUER, AUDIENCE)?,
            public_pem: pair.public_pem,
        })
    }

    /// The settings that make a service trust these tokens.
    pub fn service_env(&self) -> Vec<(String, String)> {
        [
            ("APP__AUTH__PUBLIC_KEY_PEM", self.public_pem.clone()),
            ("APP__AUTH__ISSUER", ISSUER.to_owned()),
            ("APP__AUTH__AUDIENCE", AUDIENCE.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// `Bearer <token>` of an admin.
    pub fn admin(&self) -> anyhow::Result<HeaderValue> {
        self.bearer("chaos-admin", Role::Admin)
    }

    /// `Bearer <token>` of the customer `customer`.
    pub fn customer(&self, customer: &str) -> anyhow::Result<HeaderValue> {
        self.bearer(customer, Role::Customer)
    }

    fn bearer(&self, subject: &str, role: Role) -> anyhow::Result<HeaderValue> {
        let token = self.issuer.issue(
            subject,
            role,
            chrono::Utc::now(),
            chrono::Duration::hours(TTL_HOURS),
        )?;
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .context("a token is not a valid header value")?;
        value.set_sensitive(true);
        Ok(value)
    }
}
