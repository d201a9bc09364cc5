//! The trace context an event carries (W3C Trace Context), so that the work a message causes
//! continues the trace of the request or message that caused it.
//!
//! Nothing here knows a tracing backend: the composition installs a capture function at start
//! (`adapters::runtime::telemetry` reads the current span's context), and an event made while
//! no capture is installed, or outside any traced span, carries none.

use std::sync::OnceLock;

/// A W3C `traceparent` value: `00-<trace id: 32 hex>-<parent id: 16 hex>-<flags: 2 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext(String);

/// Longest `traceparent` kept: version 00 is exactly 55 characters; a later version may add
/// fields, which a store must still hold (the outbox column is this wide).
pub const MAX_TRACEPARENT_LEN: usize = 128;

impl TraceContext {
    /// Accepts a `traceparent` header value when it is well formed: a 2-digit hex version other
    /// than `ff`, a non-zero 32-digit trace id, a non-zero 16-digit parent id and 2 hex flag
    /// digits, lowercase, dash-separated. Anything else is dropped, as the W3C recommendation
    /// says a receiver should (it then starts a new trace).
    pub fn parse(traceparent: &str) -> Option<Self> {
        let value = traceparent.trim();
        if value.len() > MAX_TRACEPARENT_LEN {
            return None;
        }
        let mut parts = value.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let zero = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = hex(version, 2)
            && version != "ff"
            && (version != "00" || parts.next().is_none())
            && hex(trace_id, 32)
            && !zero(trace_id)
            && hex(parent_id, 16)
            && !zero(parent_id)
            && hex(flags, 2);
        valid.then(|| Self(value.to_owned()))
    }

    /// The `traceparent` value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace id (32 lowercase hex digits).
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }
}

impl std::fmt::Display for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

static CAPTURE: OnceLock<fn() -> Option<TraceContext>> = OnceLock::new();

/// Installs how [`current`] reads the context of the running span. The first call wins (a
/// process has one tracing setup); later calls change nothing.
pub fn install_capture(capture: fn() -> Option<TraceContext>) {
    let _ = CAPTURE.set(capture);
}

/// The trace context of the running span, when tracing is set up and the span is recorded.
pub fn current() -> Option<TraceContext> {
    CAPTURE.get().and_then(|capture| capture())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_well_formed_traceparent_is_kept_with_its_trace_id() {
        let context = TraceContext::parse(VALID).expect("valid");
        assert_eq!(context.as_str(), VALID);
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn malformed_traceparents_are_dropped() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-ab";
        assert!(TraceContext::parse(later).is_some());
    }
}
