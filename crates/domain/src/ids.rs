//! Identifiers. Entity ids are UUIDv7: time-ordered, so new rows land at the end of B-tree
//! indexes and keyset pagination by id follows creation order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind}")]
pub struct IdError {
    /// Which kind of identifier was expected.
    pub kind: &'static str,
    /// The rejected input.
    pub input: String,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) identifier.
            #[allow(clippy::new_without_default, reason = "a fresh id is not a default value")]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the canonical hyphenated (or simple) textual form.
            pub fn parse(input: &str) -> Result<Self, IdError> {
                Uuid::try_parse(input.trim()).map(Self).map_err(|_| IdError {
                    kind: $kind,
                    input: input.to_owned(),
                })
            }

            /// Wraps a UUID read back from storage or a message.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// Identifies an order.
    OrderId,
    "order id"
);
uuid_id!(
    /// Identifies a product.
    ProductId,
    "product id"
);
uuid_id!(
    /// Identifies an integration message; consumers deduplicate on it.
    MessageId,
    "message id"
);

/// The caller's reference to the customer placing an order (owned by another system, so it is
/// an opaque token: 1 to 64 characters of letters, digits and `-_.:@`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

impl CustomerId {
    /// Longest accepted customer reference.
    pub const MAX_LEN: usize = 64;

    /// Parses a customer reference.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let valid = !input.is_empty()
            && input.len() <= Self::MAX_LEN
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(IdError {
                kind: "customer id",
                input: input.to_owned(),
            })
        }
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CustomerId> for String {
    fn from(value: CustomerId) -> Self {
        value.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_time_ordered() {
        let a = OrderId::new();
        let b = OrderId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn an_id_round_trips_through_text() {
        let id = ProductId::new();
        assert_eq!(ProductId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn a_malformed_id_is_refused_with_its_input() {
        let err = OrderId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.kind, "order id");
        assert_eq!(err.input, "not-a-uuid");
        assert!(ProductId::parse("").is_err());
        assert!(ProductId::parse("0192f0c4-7f1e-7000-8000-00000000000").is_err());
    }

    #[test]
    fn customer_ids_are_bounded_tokens() {
        assert!(CustomerId::parse("cust-42@shop").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("has space").is_err());
        assert!(CustomerId::parse(&"x".repeat(65)).is_err());
        assert!(CustomerId::parse(&"x".repeat(64)).is_ok());
    }
}
