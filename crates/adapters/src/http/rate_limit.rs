//! Per-caller rate limiting (GCRA, the `governor` crate) by route class: `reads` (`GET`,
//! `HEAD`), `writes` (every other method) and `admin` (`/admin/*`, where the dead-letter and
//! cache endpoints live). `/health`, `/health/*` and `/metrics` are never limited: probes and
//! scrapes must see the service as it is, busy or not.
//!
//! **Who is a caller.** The authenticated subject when an earlier middleware put a
//! [`CallerKey`] into the request's extensions; else the client address: the peer, or, when the
//! peer is one of `trusted_proxies`, the rightmost `X-Forwarded-For` hop that is not itself a
//! trusted proxy (hops to the left of it could be written by the client). IPv6 clients are
//! keyed by their /64, the block one subscriber usually holds, so one host cannot mint fresh
//! buckets from its own prefix.
//!
//! **Answers.** Over the limit: `429` problem+json with code `rate_limited`, `Retry-After` in
//! whole seconds (rounded up) and the headers of draft-ietf-httpapi-ratelimit-headers-09
//! (structured fields): `RateLimit-Policy: "writes";q=400;w=2` (the bucket: `q` requests,
//! refilled completely in `w` seconds) and `RateLimit: "writes";r=0;t=1` (`r` requests left,
//! `t` seconds until the next one is allowed). Allowed answers carry both too, `t` then being
//! the seconds until the bucket is full again.
//!
//! **Per process, not shared.** Each process (each replica, and each API of the standalone
//! system) keeps its own buckets in memory. A shared store (Redis) would make a caller's limit
//! exact across replicas, but would add a network round trip to every request, make Redis a
//! dependency of every request (an outage would have to fail open or shut the API), and the
//! order service's Redis is a cache that may be lost at any time. The limits here protect each
//! process from one caller's flood; behind a load balancer spreading `n` replicas, a caller
//! gets up to `n` times the configured rate, which the defaults allow for.
//!
//! **Bounded memory.** Buckets of callers whose state is as good as new (fully refilled) are
//! dropped every [`CLEANUP_EVERY`], and sooner (at most once a second) when a class tracks more
//! than [`MAX_TRACKED`] callers, so a flood of distinct addresses costs memory only for as long
//! as its buckets take to refill.
//!
//! **Time.** The limiter reads a monotonic clock ([`LimiterClock::System`]), not the clock
//! port: the port tells the wall time, which may step backwards or forwards under NTP, and a
//! step would refill or drain every bucket at once. Tests drive [`LimiterClock::Fake`]
//! (governor's `FakeRelativeClock`) instead.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use anyhow::Context;
use governor::clock::{Clock, FakeRelativeClock, Reference};
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use super::ApiError;
use crate::settings::{ClassLimit, RateLimitSettings};

/// The authenticated caller, put into the request's extensions by the authentication
/// middleware (which runs before this one); when absent, callers are told apart by address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerKey(pub String);

/// How often buckets that are full again are dropped.
pub const CLEANUP_EVERY: Duration = Duration::from_secs(10);
/// Callers tracked per class past which the cleanup runs early.
pub const MAX_TRACKED: usize = 100_000;
/// How many requests pass between two looks at the number of tracked callers.
const COUNT_EVERY: u64 = 1024;

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The time the buckets refill by.
#[derive(Debug, Clone)]
pub enum LimiterClock {
    /// Monotonic time since the limiter was built (production).
    System(Instant),
    /// Time that moves only when advanced (tests).
    Fake(FakeRelativeClock),
}

impl Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            Self::System(start) => Nanos::from(start.elapsed()),
            Self::Fake(clock) => clock.now(),
        }
    }
}

/// The route classes, each with its own quota and buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `GET` and `HEAD`.
    Reads,
    /// Every other method.
    Writes,
    /// `/admin/*`.
    Admin,
}

impl RouteClass {
    /// The class of a request, or `None` for the routes never limited (health, metrics).
    pub fn of(method: &Method, path: &str) -> Option<Self> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/health") || under("/metrics") {
            None
        } else if under("/admin") {
            Some(Self::Admin)
        } else if method == Method::GET || method == Method::HEAD {
            Some(Self::Reads)
        } else {
            Some(Self::Writes)
        }
    }

    /// The name in the settings and in the `RateLimit` headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reads => "reads",
            Self::Writes => "writes",
            Self::Admin => "admin",
        }
    }
}

type Buckets =
    RateLimiter<String, DashMapStateStore<String>, LimiterClock, StateInformationMiddleware>;

struct Class {
    buckets: Buckets,
    quota: Quota,
    policy: HeaderValue,
}

struct Inner {
    classes: [Class; 3],
    trusted: Vec<IpNet>,
    clock: LimiterClock,
    last_cleanup: AtomicU64,
    requests: AtomicU64,
}

/// The limiter of one server (shared by its workers); cheap to clone. Handed to the server as
/// `web::Data<RateLimits>` and applied by [`middleware`].
#[derive(Clone)]
pub struct RateLimits(Option<Arc<Inner>>);

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.0.is_some())
            .finish_non_exhaustive()
    }
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not limited (health, metrics, or limiting off).
    Exempt,
    /// Within the quota, with the `RateLimit-Policy` and `RateLimit` values.
    Allowed(HeaderValue, HeaderValue),
    /// Over the quota: retry after this many whole seconds.
    Limited(HeaderValue, HeaderValue, u64),
}

impl RateLimits {
    /// The limiter the settings describe, on the monotonic clock.
    pub fn new(settings: &RateLimitSettings) -> anyhow::Result<Self> {
        Self::with_clock(settings, LimiterClock::System(Instant::now()))
    }

    /// The limiter the settings describe, on `clock`.
    pub fn with_clock(settings: &RateLimitSettings, clock: LimiterClock) -> anyhow::Result<Self> {
        if !settings.enabled {
            return Ok(Self(None));
        }
        let trusted = settings
            .trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .with_context(|| {
                        format!("invalid `rate_limit.trusted_proxies` entry `{entry}`")
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        let class = |class: RouteClass, limit: ClassLimit| -> anyhow::Result<Class> {
            let invalid = || {
                format!(
                    "`rate_limit.{}` needs per_second and burst of at least 1",
                    class.name()
                )
            };
            let per_second = NonZeroU32::new(limit.per_second).with_context(invalid)?;
            let burst = NonZeroU32::new(limit.burst).with_context(invalid)?;
            let quota = Quota::per_second(per_second).allow_burst(burst);
            let window = quota
                .burst_size_replenished_in()
                .as_secs_f64()
                .ceil()
                .max(1.0);
            let policy = format!("\"{}\";q={burst};w={window}", class.name());
            Ok(Class {
                buckets: Buckets::new(quota, DashMapStateStore::default(), clock.clone()),
                quota,
                policy: HeaderValue::from_str(&policy)?,
            })
        };
        Ok(Self(Some(Arc::new(Inner {
            classes: [
                class(RouteClass::Reads, settings.reads)?,
                class(RouteClass::Writes, settings.writes)?,
                class(RouteClass::Admin, settings.admin)?,
            ],
            trusted,
            last_cleanup: AtomicU64::new(clock.now().as_u64()),
            clock,
            requests: AtomicU64::new(0),
        }))))
    }

    /// Counts one request of `class` from `caller` against its bucket.
    pub fn check(&self, class: RouteClass, caller: &str) -> Decision {
        let Some(inner) = &self.0 else {
            return Decision::Exempt;
        };
        let limited = &inner.classes[class as usize];
        let now = inner.clock.now();
        let result = limited.buckets.check_key(&caller.to_owned());
        inner.housekeeping(now);
        let name = class.name();
        match result {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limited.quota.burst_size().get().saturating_sub(remaining);
                let refill = limited.quota.replenish_interval() * used;
                let state = format!("\"{name}\";r={remaining};t={}", whole_seconds(refill));
                Decision::Allowed(limited.policy.clone(), header(&state))
            }
            Err(not_until) => {
                let wait = whole_seconds(not_until.wait_time_from(now)).max(1);
                let state = format!("\"{name}\";r=0;t={wait}");
                Decision::Limited(limited.policy.clone(), header(&state), wait)
            }
        }
    }

    /// The key of the request's caller: its [`CallerKey`], else its client address.
    pub fn caller(&self, request: &ServiceRequest) -> String {
        if let Some(CallerKey(subject)) = request.extensions().get::<CallerKey>() {
            return format!("sub:{subject}");
        }
        let trusted = self.0.as_ref().map_or(&[][..], |inner| &inner.trusted[..]);
        let peer = request.peer_addr().map(|addr| addr.ip());
        match client_ip(peer, request.headers(), trusted) {
            Some(IpAddr::V6(v6)) => {
                let block = IpNet::new(IpAddr::V6(v6), 64).map_or(IpAddr::V6(v6), |n| n.network());
                format!("ip:{block}/64")
            }
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".to_owned(),
        }
    }

    /// Callers tracked in `class` (for tests and diagnostics).
    pub fn tracked(&self, class: RouteClass) -> usize {
        self.0
            .as_ref()
            .map_or(0, |inner| inner.classes[class as usize].buckets.len())
    }
}

impl Inner {
    /// Drops buckets that are full again, every [`CLEANUP_EVERY`], or once a second while a
    /// class tracks more than [`MAX_TRACKED`] callers. Only the request that wins the swap
    /// cleans, so a cleanup runs once however many workers see it due.
    fn housekeeping(&self, now: Nanos) {
        let last = self.last_cleanup.load(Ordering::Relaxed);
        let since = Duration::from(now.duration_since(Nanos::from(last)));
        let crowded = || {
            since >= Duration::from_secs(1)
                && self
                    .requests
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(COUNT_EVERY)
                && self.classes.iter().any(|c| c.buckets.len() > MAX_TRACKED)
        };
        if (since >= CLEANUP_EVERY || crowded())
            && self
                .last_cleanup
                .compare_exchange(last, now.as_u64(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            for class in &self.classes {
                class.buckets.retain_recent();
                class.buckets.shrink_to_fit();
            }
        }
    }
}

/// The client's address: the peer, or, from a trusted proxy, the rightmost `X-Forwarded-For`
/// hop that is not a trusted proxy (the last trusted one when all are, or when a hop does not
/// parse).
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let hop = hop.trim();
        let parsed = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()));
        let Ok(ip) = parsed else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_nanos().div_ceil(1_000_000_000) as u64
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The middleware: counts the request against its caller's bucket of its class and answers
/// `429` when that is empty. Reads the [`RateLimits`] from the app data (no limits there: no
/// limiting). Runs after authentication, which names the caller with a [`CallerKey`].
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let decision = match (
        request.app_data::<web::Data<RateLimits>>(),
        RouteClass::of(request.method(), request.path()),
    ) {
        (Some(limits), Some(class)) => limits.check(class, &limits.caller(&request)),
        _ => Decision::Exempt,
    };
    match decision {
        Decision::Exempt => Ok(next.call(request).await?.map_into_left_body()),
        Decision::Allowed(policy, state) => {
            let mut response = next.call(request).await?;
            let headers = response.headers_mut();
            headers.insert(RATELIMIT_POLICY, policy);
            headers.insert(RATELIMIT, state);
            Ok(response.map_into_left_body())
        }
        Decision::Limited(policy, state, wait) => {
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            )
            .detail(format!(
                "the request rate of this caller is over its quota; retry in {wait} s"
            ))
            .retry_after(wait)
            .error_response();
            let headers = response.headers_mut();
            headers.insert(RATELIMIT_POLICY, policy);
            headers.insert(RATELIMIT, state);
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}

#[cfg(test)]
mod tests;
