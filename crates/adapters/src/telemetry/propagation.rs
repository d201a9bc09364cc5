//! The W3C trace context between spans and what carries it: HTTP headers, AMQP headers and
//! the events of the outbox ([`ports::TraceContext`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use ports::{OutboxMessage, TraceContext};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header (HTTP and AMQP) that carries the context.
pub const TRACEPARENT: &str = "traceparent";
/// The vendor-specific companion header, passed through when present.
pub const TRACESTATE: &str = "tracestate";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Lets events made inside a traced span carry its context ([`ports::trace::current`]).
pub(super) fn install() {
    ENABLED.store(true, Ordering::Relaxed);
    ports::trace::install_capture(current);
}

/// Whether spans are traced: without an exporter, the per-message spans are not made at all.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The producer span of publishing `message` to `destination` (messaging semantic
/// conventions), the child of the context the message was written with; `Span::none()` when
/// nothing is traced.
pub fn publish_span(system: &'static str, destination: &str, message: &OutboxMessage) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "publish",
        otel.name = %format!("publish {destination}"),
        otel.kind = "producer",
        messaging.system = system,
        messaging.operation.type = "send",
        messaging.operation.name = "publish",
        messaging.destination.name = %destination,
        messaging.rabbitmq.destination.routing_key = %message.routing_key,
        messaging.message.id = %message.id,
        routing_key = %message.routing_key,
    );
    continue_event(&span, message.trace.as_ref());
    span
}

/// The consumer span of handling one message from `queue` (messaging semantic conventions),
/// the child of the producer span `traceparent` names; `Span::none()` when nothing is traced.
pub fn process_span(
    system: &'static str,
    queue: &str,
    routing_key: &str,
    message_id: Option<String>,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "process",
        otel.name = %format!("process {queue}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = system,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %queue,
        messaging.rabbitmq.destination.routing_key = %routing_key,
        messaging.message.id = message_id,
        messaging.outcome = tracing::field::Empty,
        routing_key = %routing_key,
    );
    continue_from(&span, traceparent, tracestate);
    span
}

/// The context of the running span.
pub fn current() -> Option<TraceContext> {
    of(&tracing::Span::current())
}

/// The context of `span`, when it is traced (sampled or not: the flags say which).
pub fn of(span: &tracing::Span) -> Option<TraceContext> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    if !span_context.is_valid() {
        return None;
    }
    // The `traceparent` the propagator would write, without its map.
    TraceContext::parse(&format!(
        "00-{}-{}-{:02x}",
        span_context.trace_id(),
        span_context.span_id(),
        span_context.trace_flags().to_u8()
    ))
}

/// The `traceparent` and `tracestate` of `span`, to send with a request or a message.
pub fn headers_of(span: &tracing::Span) -> Vec<(&'static str, String)> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    [TRACEPARENT, TRACESTATE]
        .into_iter()
        .filter_map(|name| carrier.remove(name).map(|value| (name, value)))
        .collect()
}

/// Makes `span` the child of the context these header values name, when they name a valid one;
/// otherwise `span` starts a trace of its own.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let context = TraceContextPropagator::new().extract(&Headers {
        traceparent,
        tracestate,
    });
    if context.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: nothing to continue then.
        let _ = span.set_parent(context);
    }
}

/// Makes `span` the child of an event's stored context.
pub fn continue_event(span: &tracing::Span, trace: Option<&TraceContext>) {
    if let Some(trace) = trace {
        continue_from(span, Some(trace.as_str()), None);
    }
}

struct Headers<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent,
            TRACESTATE => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Links `span` to an event's stored context (a batch's span to each message it applies).
pub fn link(span: &tracing::Span, trace: Option<&TraceContext>) {
    let Some(trace) = trace else { return };
    let context = TraceContextPropagator::new().extract(&Headers {
        traceparent: Some(trace.as_str()),
        tracestate: None,
    });
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.add_link(span_context);
    }
}

/// Notes on the delivery's span how it was settled; a dead letter is an error.
pub fn record_outcome(span: &Span, outcome: &ports::HandleOutcome) {
    let (name, error) = match outcome {
        ports::HandleOutcome::Ack => ("ack", false),
        ports::HandleOutcome::Retry(_) => ("retry", false),
        ports::HandleOutcome::DeadLetter(_) => ("dead_letter", true),
    };
    span.record("messaging.outcome", name);
    if error {
        span.record("otel.status_code", "ERROR");
    }
}
