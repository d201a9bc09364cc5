//! JSON log lines; inside a span that is traced, each line also carries that span's
//! `trace_id` and `span_id`, so that a log search leads to the trace and back.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt as _;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON formatting layer on stdout; `traced` says whether spans have OpenTelemetry
/// contexts.
pub fn json_layer<S>(traced: bool) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    json_layer_to(traced, std::io::stdout)
}

/// [`json_layer`] writing to `writer`.
pub fn json_layer_to<S, W>(traced: bool, writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let format = tracing_subscriber::fmt::format()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    let dispatch = Arc::new(OnceLock::new());
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .fmt_fields(JsonFields::new())
        .event_format(WithTraceIds {
            inner: format,
            traced,
            dispatch: dispatch.clone(),
        })
        .and_then(CaptureDispatch(dispatch))
}

/// The JSON format, with `"trace_id"` and `"span_id"` first when the event happens inside a
/// traced span.
struct WithTraceIds {
    inner: Format<Json>,
    traced: bool,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

/// Keeps the dispatcher the layer is registered with, for [`WithTraceIds`].
struct CaptureDispatch(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> tracing_subscriber::Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }
}

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = if self.traced {
            trace_ids(event, &self.dispatch)
        } else {
            None
        };
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON object opens with `{`: the ids go right after it.
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}

/// The trace and span ids of the event's span, when it has a valid OpenTelemetry context.
fn trace_ids(event: &Event<'_>, dispatch: &OnceLock<WeakDispatch>) -> Option<(String, String)> {
    // Inside a subscriber's callback `dispatcher::get_default` answers the no-op dispatcher
    // (tracing's guard against re-entry), hence the one captured at registration.
    let dispatch = dispatch.get()?.upgrade()?;
    // The event's span as the registry sees it: `ctx` only shows the spans this layer's own
    // filter lets through, and an `info` span is traced even when the logs show `warn` only.
    let id = match event.parent() {
        Some(parent) => parent.clone(),
        None if event.is_contextual() => dispatch.current_span().id()?.clone(),
        None => return None,
    };
    // No extension of the span is borrowed here, as `get_otel_context` requires.
    let context = tracing_opentelemetry::get_otel_context(&id, &dispatch)?;
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_inside_a_traced_span_carries_its_trace_and_span_ids() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let lines = Lines::default();
        let writer = lines.clone();
        // Filtered as `telemetry::init_with` does: spans at `info` traced, logs at `warn`.
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(provider.tracer("test"))
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            )
            .with(
                json_layer_to(true, move || writer.clone())
                    .with_filter(tracing_subscriber::EnvFilter::new("warn")),
            );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("work");
            span.in_scope(|| {
                tracing::info!("not logged at warn");
                tracing::warn!(answer = 42, "inside");
            });
            drop(span);
            tracing::warn!("outside");
        });
        let spans = exporter.get_finished_spans().unwrap();
        let [span] = spans.as_slice() else {
            panic!("one span: {spans:?}")
        };
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let [inside, outside] = lines.as_slice() else {
            panic!("two lines: {text}")
        };
        assert_eq!(inside["trace_id"], span.span_context.trace_id().to_string());
        assert_eq!(inside["span_id"], span.span_context.span_id().to_string());
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["answer"], 42);
        assert!(outside.get("trace_id").is_none(), "{outside}");
        assert_eq!(outside["message"], "outside");
    }
}
