//! Tokens for tests: one ES256 key pair per test process, which every system a test starts
//! trusts, and tokens signed with it (or deliberately wrong ones).

use std::sync::OnceLock;

use adapters::http::auth::AuthSettings;
use adapters::http::auth::issue::{KeyPair, TokenIssuer};
use domain::Role;

/// The `iss` the test systems accept.
pub const ISSUER: &str = "https://id.test.local";
/// The `aud` the test systems accept.
pub const AUDIENCE: &str = "shop-api";
/// The subject of [`admin_token`].
pub const ADMIN: &str = "test-admin";

fn keys() -> &'static KeyPair {
    static KEYS: OnceLock<KeyPair> = OnceLock::new();
    KEYS.get_or_init(|| KeyPair::generate().expect("a test key pair"))
}

fn issuer() -> TokenIssuer {
    TokenIssuer::new(keys(), None, ISSUER, AUDIENCE).expect("a test token issuer")
}

/// `[auth]` of a test system: the test key, inline.
pub fn auth_settings() -> AuthSettings {
    AuthSettings {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        leeway_secs: 30,
        public_key_pem: Some(keys().public_pem.clone()),
        public_key_file: None,
        jwks_url: None,
        jwks_refresh_secs: 300,
    }
}

/// A token for `subject` in `role`, valid for an hour.
pub fn token(subject: &str, role: Role) -> String {
    issuer()
        .issue(subject, role, crate::now(), chrono::Duration::hours(1))
        .expect("a test token")
}

/// An admin's token (what [`crate::TestSystem::http`] sends by default).
pub fn admin_token() -> String {
    token(ADMIN, Role::Admin)
}

/// A customer's token.
pub fn customer_token(subject: &str) -> String {
    token(subject, Role::Customer)
}

/// A customer token that expired an hour ago (beyond any leeway).
pub fn expired_token(subject: &str) -> String {
    issuer()
        .issue(
            subject,
            Role::Customer,
            crate::now() - chrono::Duration::hours(2),
            chrono::Duration::hours(1),
        )
        .expect("a test token")
}

/// A customer token for another audience.
pub fn wrong_audience_token(subject: &str) -> String {
    issuer()
        .issue_for(
            subject,
            Role::Customer.as_str(),
            "another-api",
            crate::now(),
            chrono::Duration::hours(1),
        )
        .expect("a test token")
}

/// An admin token signed with a key no test system trusts.
pub fn foreign_key_token(subject: &str) -> String {
    let stranger = KeyPair::generate().expect("a key pair");
    TokenIssuer::new(&stranger, None, ISSUER, AUDIENCE)
        .expect("an issuer")
        .issue(
            subject,
            Role::Admin,
            crate::now(),
            chrono::Duration::hours(1),
        )
        .expect("a test token")
}
