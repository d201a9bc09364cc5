//! Fault points: named places where a build with the `fault-points` feature can crash the
//! process, fail a request or slow it down, as the chaos harness (`make chaos`) arranges through
//! the `CHAOS_FAULTS` environment variable. Without the feature, every point compiles to nothing
//! and the variable is ignored: production builds carry no fault code.
//!
//! `CHAOS_FAULTS` is a comma-separated list of `point=action`:
//! - `crash:P`: abort the process with probability `P` (0 to 1) each time the point is passed;
//! - `error`: answer `500` problem+json (HTTP points only);
//! - `delay:MS`: wait `MS` milliseconds before going on (HTTP points only).
//!
//! The points:
//! - `tx.after_commit`: a database transaction committed, nothing after it ran yet (the relay
//!   has not published the events it wrote, the request has not answered, the message is not
//!   acknowledged);
//! - `relay.after_confirm`: the broker confirmed a batch, the outbox rows are not marked yet;
//! - `consumer.before_ack`: a message was handled (its transaction committed), not acknowledged;
//! - `http.<first path segment>`: an inbound request, e.g. `http.products` for
//!   `GET /products?ids=...` (the order service's price lookup).

/// What a fault point does when it fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Abort the process with this probability.
    Crash(f64),
    /// Answer 500.
    Error,
    /// Wait this long.
    Delay(std::time::Duration),
}

/// Parses a `CHAOS_FAULTS` value.
pub fn parse(spec: &str) -> anyhow::Result<Vec<(String, Fault)>> {
    use anyhow::{Context, bail};
    let mut faults = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (point, action) = entry
            .split_once('=')
            .with_context(|| format!("fault `{entry}`: expected point=action"))?;
        let fault = match action.split_once(':') {
            Some(("crash", p)) => {
                let p: f64 = p
                    .parse()
                    .with_context(|| format!("fault `{entry}`: bad probability"))?;
                if !(0.0..=1.0).contains(&p) {
                    bail!("fault `{entry}`: the probability must be between 0 and 1");
                }
                Fault::Crash(p)
            }
            Some(("delay", ms)) => Fault::Delay(std::time::Duration::from_millis(
                ms.parse()
                    .with_context(|| format!("fault `{entry}`: bad milliseconds"))?,
            )),
            None if action == "error" => Fault::Error,
            _ => bail!("fault `{entry}`: unknown action (crash:P, error or delay:MS)"),
        };
        faults.push((point.trim().to_owned(), fault));
    }
    Ok(faults)
}

#[cfg(feature = "fault-points")]
mod armed {
    use std::sync::OnceLock;

    use super::Fault;

    static FAULTS: OnceLock<Vec<(String, Fault)>> = OnceLock::new();

    pub(super) fn faults() -> &'static [(String, Fault)] {
        FAULTS.get_or_init(|| match std::env::var("CHAOS_FAULTS") {
            Ok(spec) => super::parse(&spec).unwrap_or_else(|e| {
                eprintln!("invalid CHAOS_FAULTS: {e:#}");
                std::process::abort()
            }),
            Err(_) => Vec::new(),
        })
    }

    pub(super) fn find(point: &str) -> Option<Fault> {
        faults()
            .iter()
            .find(|(name, _)| name == point)
            .map(|(_, f)| *f)
    }
}

/// Checks `CHAOS_FAULTS` at startup and logs the armed points (a build with fault points is
/// never silent about it). A no-op without the `fault-points` feature.
pub fn init() -> anyhow::Result<()> {
    #[cfg(feature = "fault-points")]
    {
        if let Ok(spec) = std::env::var("CHAOS_FAULTS") {
            parse(&spec)?;
        }
        tracing::warn!(faults = ?armed::faults(), "built with fault points (chaos testing only)");
    }
    Ok(())
}

/// A crash point: aborts the process when `CHAOS_FAULTS` arms `point` with `crash:P` and the
/// dice say so.
#[inline]
pub fn crash_point(point: &str) {
    #[cfg(feature = "fault-points")]
    if let Some(Fault::Crash(p)) = armed::find(point)
        && rand::random::<f64>() < p
    {
        eprintln!("fault point {point}: crashing");
        std::process::abort();
    }
    #[cfg(not(feature = "fault-points"))]
    let _ = point;
}

/// Wraps every inbound request: `http.<first path segment>` armed with `error` answers 500,
/// with `delay:MS` waits first.
#[cfg(feature = "fault-points")]
pub async fn http_faults(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let segment = req
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match armed::find(&format!("http.{segment}")) {
        Some(Fault::Error) => {
            let error = crate::http::ApiError::internal(anyhow::anyhow!("injected fault"));
            Ok(req.error_response(error))
        }
        Some(Fault::Delay(pause)) => {
            tokio::time::sleep(pause).await;
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        _ => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action() {
        let faults = parse("tx.after_commit=crash:0.25, http.products=error,http.x=delay:1500")
            .expect("valid");
        assert_eq!(
            faults,
            vec![
                ("tx.after_commit".to_owned(), Fault::Crash(0.25)),
                ("http.products".to_owned(), Fault::Error),
                (
                    "http.x".to_owned(),
                    Fault::Delay(std::time::Duration::from_millis(1500))
                ),
            ]
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["x", "x=crash:2", "x=crash:a", "x=explode", "x=delay:soon"] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
