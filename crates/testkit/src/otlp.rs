//! An in-process OTLP/HTTP trace receiver, standing in for an OpenTelemetry Collector in tests.
//!
//! [`OtlpReceiver::start`] listens on a free port of 127.0.0.1: point the services' exporter at
//! [`OtlpReceiver::endpoint`], then assert on the [`ReceivedSpan`]s, which need no protobuf. It
//! takes `POST /v1/traces` with an `ExportTraceServiceRequest` in protobuf (or JSON when the
//! content type says so, gzipped or not) and answers 200 with an empty response in the same
//! encoding; anything else is 404, a body that does not decode 400.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest as Export;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse as ExportResponse;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message as _;
use tokio::net::TcpListener;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The kind of a span, as OTLP defines it (`Unspecified` also for values it does not define).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
    Unspecified,
}

impl SpanKind {
    fn from_proto(kind: i32) -> Self {
        match span::SpanKind::try_from(kind) {
            Ok(span::SpanKind::Internal) => Self::Internal,
            Ok(span::SpanKind::Server) => Self::Server,
            Ok(span::SpanKind::Client) => Self::Client,
            Ok(span::SpanKind::Producer) => Self::Producer,
            Ok(span::SpanKind::Consumer) => Self::Consumer,
            Ok(span::SpanKind::Unspecified) | Err(_) => Self::Unspecified,
        }
    }
}

/// One exported span, flattened out of its resource and scope.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The resource attribute `service.name` (`""` if none).
    pub service_name: String,
    /// 32 lowercase hex characters.
    pub trace_id: String,
    /// 16 lowercase hex characters.
    pub span_id: String,
    /// The parent's span id in hex; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The span name.
    pub name: String,
    /// The span kind.
    pub kind: SpanKind,
    /// Values rendered as strings (arrays joined with `,`).
    pub attributes: BTreeMap<String, String>,
    /// The linked spans, as `(trace_id, span_id)` in hex.
    pub links: Vec<(String, String)>,
    /// Whether the status code is `ERROR`.
    pub status_error: bool,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
}

#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    requests: usize,
}

type Shared = Arc<Mutex<Received>>;
type Reply = Response<Full<Bytes>>;

/// A running receiver. It owns the server: dropping it stops the server and closes its
/// connections.
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Shared,
    // Its own runtime, not the test's: exporters flush with blocking calls, which on a test's
    // current-thread runtime would stall the very server they wait for until they time out.
    runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpReceiver {
    /// Starts a receiver on a free port of 127.0.0.1, served by a thread of its own.
    pub async fn start() -> anyhow::Result<Self> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        let runtime = builder.worker_threads(1).enable_all().build()?;
        let bind = TcpListener::bind((Ipv4Addr::LOCALHOST, 0));
        let listener = runtime.spawn(bind).await??;
        let addr = listener.local_addr()?;
        let received = Shared::default();
        runtime.spawn(serve(listener, received.clone()));
        Ok(Self {
            addr,
            received,
            runtime: Some(runtime),
        })
    }

    /// The base URL for an OTLP/HTTP exporter, `http://127.0.0.1:PORT` (without `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in the order received.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.received).spans.clone()
    }

    /// How many export requests were received and decoded (rejected ones do not count).
    pub fn requests(&self) -> usize {
        lock(&self.received).requests
    }

    /// Polls (every 50 ms) until `pred` holds over the spans received so far or `timeout`
    /// passes; returns the spans at that point, or an error listing the span names received
    /// when it timed out.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if pred(&spans) {
                return Ok(spans);
            }
            if Instant::now() >= deadline {
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                anyhow::bail!("spans not as expected after {timeout:?}; received: {names:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The spans received so far of one trace (`trace_id` in hex, either case).
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let mut spans = self.spans();
        spans.retain(|s| s.trace_id.eq_ignore_ascii_case(trace_id));
        spans
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        // Not a plain drop, which waits for the tasks and panics inside an async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn lock(received: &Shared) -> MutexGuard<'_, Received> {
    // A test thread that panicked holding the lock must not hide the spans from the others.
    received.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: TcpListener, received: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Usually out of file descriptors: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let received = received.clone();
        let service = hyper::service::service_fn(move |req| handle(req, received.clone()));
        let io = hyper_util::rt::TokioIo::new(stream);
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        // Detached, yet the receiver's runtime takes them down with it, even kept-alive ones.
        // A client hanging up mid-request is its own problem, not the test's.
        tokio::spawn(async move { drop(conn.await) });
    }
}

async fn handle(req: Request<Incoming>, received: Shared) -> hyper::http::Result<Reply> {
    // OTLP/HTTP answers in the encoding of the request; an empty response means all accepted.
    let accepted = ExportResponse::default().encode_to_vec();
    let (status, mime, body) = match export(req, &received).await {
        Ok(false) => (StatusCode::OK, PROTOBUF, accepted),
        Ok(true) => (StatusCode::OK, JSON, b"{}".to_vec()),
        Err((status, why)) => (status, "text/plain", why.into_bytes()),
    };
    let response = Response::builder().header(header::CONTENT_TYPE, mime);
    response.status(status).body(Full::from(body))
}

/// Decodes and records one export request: whether it was JSON, or the status and why not.
async fn export(req: Request<Incoming>, received: &Shared) -> Result<bool, (StatusCode, String)> {
    if req.method() != Method::POST || req.uri().path() != "/v1/traces" {
        return Err((StatusCode::NOT_FOUND, "only POST /v1/traces".into()));
    }
    let value = |name| req.headers().get(name).map_or(&b""[..], |v| v.as_bytes());
    // A prefix, because a JSON content type may carry `; charset=utf-8`.
    let json = value(header::CONTENT_TYPE).starts_with(JSON.as_bytes());
    let gzip = value(header::CONTENT_ENCODING) == b"gzip";
    let bad = |e: &dyn std::fmt::Display| (StatusCode::BAD_REQUEST, e.to_string());
    let body = req.into_body().collect().await.map_err(|e| bad(&e))?;
    let mut body = body.to_bytes();
    if gzip {
        let (mut gunzip, mut plain) = (flate2::read::GzDecoder::new(&body[..]), Vec::new());
        gunzip.read_to_end(&mut plain).map_err(|e| bad(&e))?;
        body = Bytes::from(plain);
    }
    let request = if json {
        serde_json::from_slice(&body).map_err(|e| bad(&e))?
    } else {
        Export::decode(body).map_err(|e| bad(&e))?
    };
    let spans = flatten(request);
    let mut received = lock(received);
    received.requests += 1;
    received.spans.extend(spans);
    Ok(json)
}

fn flatten(request: Export) -> Vec<ReceivedSpan> {
    let link = |l: &span::Link| (hex(&l.trace_id), hex(&l.span_id));
    let error = status::StatusCode::Error as i32;
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.unwrap_or_default();
        let service_name = attributes(&resource.attributes).remove("service.name");
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            out.push(ReceivedSpan {
                service_name: service_name.clone().unwrap_or_default(),
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: Some(hex(&span.parent_span_id)).filter(|id| !id.is_empty()),
                name: span.name,
                kind: SpanKind::from_proto(span.kind),
                attributes: attributes(&span.attributes),
                links: span.links.iter().map(link).collect(),
                status_error: span.status.is_some_and(|s| s.code == error),
                start_unix_nanos: span.start_time_unix_nano,
                end_unix_nanos: span.end_time_unix_nano,
            });
        }
    }
    out
}

fn attributes(key_values: &[KeyValue]) -> BTreeMap<String, String> {
    let pair = |kv: &KeyValue| (kv.key.clone(), render(kv.value.as_ref()));
    key_values.iter().map(pair).collect()
}

fn render(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::ArrayValue(array)) => {
            let values: Vec<String> = array.values.iter().map(Some).map(render).collect();
            values.join(",")
        }
        // Maps, bytes and string-table indexes: no test reads them yet, Debug keeps them visible.
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0102030405060708090a0b0c0d0e0f10";
    const PARENT: &str = "a1a2a3a4a5a6a7a8";
    const CHILD: &str = "b1b2b3b4b5b6b7b8";
    const LINK: (&str, &str) = ("ffeeddccbbaa99887766554433221100", "c1c2c3c4c5c6c7c8");

    /// A server span with an attribute of each type, and its client child, which links to
    /// another trace and failed; in OTLP's JSON mapping (hex ids, enums as numbers, int64 as
    /// strings), far terser than prost literals. Protobuf cases post it encoded by prost.
    fn export() -> serde_json::Value {
        serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "order"}}]},
            "scopeSpans": [{"spans": [
                {"traceId": TRACE, "spanId": PARENT, "name": "POST /orders", "kind": 2,
                 "startTimeUnixNano": "1000", "endTimeUnixNano": "5000", "attributes": [
                     {"key": "route", "value": {"stringValue": "/orders"}},
                     {"key": "status", "value": {"intValue": "201"}},
                     {"key": "retried", "value": {"boolValue": false}},
                     {"key": "ratio", "value": {"doubleValue": 0.5}},
                     {"key": "tags", "value": {"arrayValue": {"values": [
                         {"stringValue": "a"}, {"stringValue": "b"}]}}}]},
                {"traceId": TRACE, "spanId": CHILD, "parentSpanId": PARENT, "kind": 3,
                 "name": "GET product", "startTimeUnixNano": "2000", "endTimeUnixNano": "3000",
                 "links": [{"traceId": LINK.0, "spanId": LINK.1}], "status": {"code": 2}}]}]
        }]})
    }

    async fn post(to: String, headers: [&str; 2], body: Vec<u8>) -> reqwest::Response {
        let request = reqwest::Client::new().post(to).body(body);
        let request = request.header("content-type", headers[0]);
        let request = request.header("content-encoding", headers[1]);
        request.send().await.expect("the receiver answers")
    }

    #[tokio::test]
    async fn decodes_protobuf_plain_and_gzipped_and_json() -> anyhow::Result<()> {
        let protobuf = serde_json::from_value::<Export>(export())?.encode_to_vec();
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), Default::default());
        std::io::Write::write_all(&mut gzipped, &protobuf)?;
        let cases = [
            ([PROTOBUF, ""], protobuf),
            ([PROTOBUF, "gzip"], gzipped.finish()?),
            ([JSON, ""], serde_json::to_vec(&export())?),
        ];
        for (headers, body) in cases {
            let receiver = OtlpReceiver::start().await?;
            let response = post(format!("{}/v1/traces", receiver.endpoint()), headers, body).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], headers[0]);
            let body = response.bytes().await?;
            let answer = match headers[0] {
                JSON => serde_json::from_slice(&body)?,
                _ => ExportResponse::decode(body)?,
            };
            assert_eq!(answer, ExportResponse::default());
            assert_eq!(receiver.requests(), 1);
            let spans = receiver.wait_for(Duration::ZERO, |s| s.len() == 2).await?;
            let (parent, child) = (&spans[0], &spans[1]);
            assert_eq!(receiver.trace(TRACE).len(), 2);
            let error = receiver.wait_for(Duration::ZERO, |_| false).await.err();
            assert!(format!("{error:?}").contains(r#"["POST /orders", "GET product"]"#));
            assert_eq!(parent.service_name, "order");
            assert_eq!(parent.trace_id, TRACE);
            assert_eq!(parent.span_id, PARENT);
            assert_eq!(parent.parent_span_id, None);
            assert_eq!(parent.name, "POST /orders");
            assert_eq!(parent.kind, SpanKind::Server);
            let attributes = &parent.attributes;
            assert_eq!(attributes.len(), 5, "{attributes:?}");
            assert_eq!(attributes["route"], "/orders");
            assert_eq!(attributes["status"], "201");
            assert_eq!(attributes["retried"], "false");
            assert_eq!(attributes["ratio"], "0.5");
            assert_eq!(attributes["tags"], "a,b");
            assert!(parent.links.is_empty());
            assert!(!parent.status_error);
            assert_eq!(parent.start_unix_nanos, 1_000);
            assert_eq!(parent.end_unix_nanos, 5_000);
            assert_eq!(child.service_name, "order");
            assert_eq!(child.trace_id, TRACE);
            assert_eq!(child.span_id, CHILD);
            assert_eq!(child.parent_span_id.as_deref(), Some(PARENT));
            assert_eq!(child.name, "GET product");
            assert_eq!(child.kind, SpanKind::Client);
            assert!(child.attributes.is_empty());
            assert_eq!(child.links, [(LINK.0.into(), LINK.1.into())]);
            assert!(child.status_error);
            assert_eq!(child.start_unix_nanos, 2_000);
            assert_eq!(child.end_unix_nanos, 3_000);
        }
        Ok(())
    }

    #[tokio::test]
    async fn rejects_other_routes_and_bodies_that_do_not_decode() -> anyhow::Result<()> {
        let receiver = OtlpReceiver::start().await?;
        let good = serde_json::from_value::<Export>(export())?.encode_to_vec();
        let to = |path| format!("{}{path}", receiver.endpoint());
        let wrong_path = post(to("/v1/metrics"), [PROTOBUF, ""], good.clone()).await;
        assert_eq!(wrong_path.status(), StatusCode::NOT_FOUND);
        let malformed = post(to("/v1/traces"), [PROTOBUF, ""], vec![0xff; 3]).await;
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        let not_gzip = post(to("/v1/traces"), [PROTOBUF, "gzip"], good).await;
        assert_eq!(not_gzip.status(), StatusCode::BAD_REQUEST);
        assert_eq!(receiver.requests(), 0);
        Ok(())
    }
}
