//! Telemetry: JSON log lines through `tracing`, filtered by `RUST_LOG` (default `info`), and,
//! when an OTLP endpoint is configured, the spans exported over OTLP/HTTP with W3C trace
//! context carried across HTTP calls, the outbox and the broker.
//!
//! Configuration is the standard OpenTelemetry environment:
//! - `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (the
//!   exporter appends `/v1/traces`); with neither, nothing is exported and no span context is
//!   made. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` also turn it off.
//! - `OTEL_EXPORTER_OTLP_PROTOCOL` / `..._TRACES_PROTOCOL`: `http/protobuf` (the default) or
//!   `http/json`; gRPC is not built in (a collector takes both).
//! - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`,
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`.
//!
//! Spans leave through a batch processor on a thread of its own, with a bounded queue: a
//! collector that is down or slow costs failed exports on that thread and dropped spans, never
//! a request's time.
//!
//! Layout: this file (set-up and shutdown), [`logs`] (JSON lines with `trace_id`/`span_id`),
//! [`propagation`] (the trace context in and out of spans, headers and events).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

pub mod logs;
pub mod propagation;

/// The process's telemetry. [`Telemetry::shutdown`] (or dropping it) exports the spans still
/// queued; call it when the service has stopped.
#[derive(Debug, Default)]
#[must_use = "dropping it shuts the span exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is queued (bounded by the exporter's timeout) and stops the exporter.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            // Logged, never fatal: a collector that is down must not fail a clean stop.
            tracing::warn!(error = %e, "failed to export the last spans");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where spans go, when anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// As the `OTEL_*` environment says (nowhere when it names no endpoint).
    FromEnvironment,
    /// To this OTLP/HTTP traces URL (ending in `/v1/traces`), protobuf, whatever the
    /// environment says: for tests.
    To(String),
}

/// Installs the global subscriber with the `OTEL_*` environment. Safe to call more than once:
/// later calls do nothing (and return an inert [`Telemetry`]), which tests rely on.
pub fn init(service: &'static str) -> Telemetry {
    init_with(service, "info", &Export::FromEnvironment)
}

/// Like [`init`], with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with_filter(service: &'static str, default: &str) -> Telemetry {
    init_with(service, default, &Export::FromEnvironment)
}

/// Installs the global subscriber: JSON logs, plus spans exported as `export` says.
pub fn init_with(service: &'static str, default: &str, export: &Export) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (provider, problem) = match tracer_provider(service, export) {
        Ok(provider) => (provider, None),
        Err(e) => (None, Some(e)),
    };
    // `RUST_LOG` chooses the log lines only: the spans traced are those at `info` and above,
    // whatever the logs show (a quiet `warn` must not turn tracing off). Of the events, only
    // warnings and errors become span events: each one costs allocations on the request's
    // path, and the `info` ones repeat what the spans already say.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service))
            // Per-span extras the layer adds by default, each a cost on every span (busy/idle
            // time takes two clock reads per poll): the spans carry their own attributes.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            // Entering a span (every poll of an instrumented future) would also make its
            // context the current OpenTelemetry context: nothing here reads that (propagation
            // takes the context from the span itself), so it is not paid for.
            .with_context_activation(false)
            .with_filter(filter_fn(|meta| {
                let floor = if meta.is_event() {
                    Level::WARN
                } else {
                    Level::INFO
                };
                *meta.level() <= floor
            }))
    });
    let installed = tracing_subscriber::registry()
        .with(otel)
        .with(logs::json_layer(provider.is_some()).with_filter(filter))
        .try_init()
        .is_ok();
    if !installed {
        // Another subscriber is in place (a test process): the spans would go nowhere.
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return Telemetry::default();
    }
    if provider.is_some() {
        propagation::install();
    }
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        traces_exported = provider.is_some(),
        "logging initialised"
    );
    if let Some(e) = problem {
        tracing::error!(error = %format!("{e:#}"), "traces are not exported");
    }
    Telemetry { provider }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
}

fn tracer_provider(
    service: &'static str,
    export: &Export,
) -> anyhow::Result<Option<SdkTracerProvider>> {
    let builder = opentelemetry_otlp::SpanExporter::builder().with_http();
    let exporter = match export {
        Export::To(url) => builder
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .build()?,
        Export::FromEnvironment => {
            if env_is("OTEL_SDK_DISABLED", "true")
                || env_is("OTEL_TRACES_EXPORTER", "none")
                || !(env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    || env_set("OTEL_EXPORTER_OTLP_ENDPOINT"))
            {
                return Ok(None);
            }
            let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
                .unwrap_or_default();
            let protocol = match protocol.trim() {
                "" | "http/protobuf" => Protocol::HttpBinary,
                "http/json" => Protocol::HttpJson,
                other => anyhow::bail!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: use http/protobuf or http/json"
                ),
            };
            builder.with_protocol(protocol).build()?
        }
    };
    let mut resource = Resource::builder();
    if !env_set("OTEL_SERVICE_NAME") {
        resource = resource.with_service_name(service);
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}
