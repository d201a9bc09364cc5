//! The run's credentials. Every API but the product reads wants a bearer token, so a run makes
//! one ES256 key pair, hands its public key to every service it starts (the same `APP__AUTH__*`
//! variables serve both compositions) and signs the tokens the loads send: an admin's for the
//! fixtures and the operators' calls, customers' for the orders, each customer placing and
//! reading its own as a shop's real load does. Verifying them is then part of every figure,
//! as it is in production.

use std::sync::Arc;

use anyhow::Context;
use reqwest::header::HeaderValue;

use adapters::http::auth::issue::{KeyPair, TokenIssuer};
use domain::Role;

/// The `iss` the services are told to accept.
const ISSUER: &str = "bench";
/// The `aud` the services are told to accept.
const AUDIENCE: &str = "shop-api";
/// Customers the order loads spread over: request `i` is customer `i % CUSTOMERS`'s.
pub const CUSTOMERS: usize = 256;
/// Longer than any full run, so that no token expires under load.
const TTL_HOURS: i64 = 24;

/// The run's public key and the `Authorization` values signed with its private key.
#[derive(Clone)]
pub struct Tokens {
    public_pem: String,
    admin: HeaderValue,
    customers: Arc<[HeaderValue]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("customers", &self.customers.len())
            .finish_non_exhaustive()
    }
}

fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .context("a token is not a valid header value")?;
    value.set_sensitive(true);
    Ok(value)
}

impl Tokens {
    /// A fresh key pair, an admin's token and [`CUSTOMERS`] customers' (`bench-customer-N`).
    pub fn generate() -> anyhow::Result<Self> {
        let pair = KeyPair::generate()?;
        let issuer = TokenIssuer::new(&pair, None, ISSUER, AUDIENCE)?;
        let (now, ttl) = (chrono::Utc::now(), chrono::Duration::hours(TTL_HOURS));
        let admin = bearer(&issuer.issue("bench-admin", Role::Admin, now, ttl)?)?;
        let customers = (0..CUSTOMERS)
            .map(|n| {
                let token =
                    issuer.issue(&format!("bench-customer-{n}"), Role::Customer, now, ttl)?;
                bearer(&token)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            public_pem: pair.public_pem,
            admin,
            customers,
        })
    }

    /// The settings that make a service (either composition) trust these tokens.
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

    /// The admin's `Authorization`: products, stock, cache warm-up, listings of every order.
    pub fn admin(&self) -> HeaderValue {
        self.admin.clone()
    }

    /// The `Authorization` of the customer who sends request `i` of an order load (and reads
    /// that order back).
    pub fn customer(&self, i: u64) -> HeaderValue {
        self.customers[(i % self.customers.len() as u64) as usize].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spread_over_the_customers() {
        let tokens = Tokens::generate().unwrap();
        assert_eq!(tokens.customer(0), tokens.customer(CUSTOMERS as u64));
        assert_ne!(tokens.customer(0), tokens.customer(1));
        assert!(tokens.admin().to_str().unwrap().starts_with("Bearer ey"));
        assert!(tokens.customer(0).is_sensitive());
    }
}
