//! Shared fixtures: a broker connection with an isolated topology, a scripted message handler,
//! polling, and a TCP proxy whose connections can be cut to simulate a network failure.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters::rabbitmq::{self, Consumer, Topology};
use async_trait::async_trait;
use lapin::options::ConfirmSelectOptions;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection};
use ports::messaging::{Dispatch, HandleOutcome, InboundMessage, MessageHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

/// The routing key the test queues are bound to.
pub const BOUND_KEY: &str = "order.created";
/// How long a test waits for something the broker does asynchronously.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL").expect(
        "TEST_AMQP_URL is not set: run `make test`, which starts RabbitMQ, or point it at a broker",
    )
}

fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        std::mem::forget(adapters::runtime::telemetry::init("amqp-tests"));
    }
}

/// A connection and a confirm-mode channel to the test broker, with one service topology
/// declared under a prefix of its own.
pub struct TestBroker {
    pub url: String,
    pub prefix: String,
    pub topology: Topology,
    pub connection: Connection,
    pub channel: Channel,
}

impl TestBroker {
    pub async fn start(delivery_limit: u32) -> Self {
        init_tracing();
        let url = amqp_url();
        let prefix = format!("t{}-", uuid::Uuid::now_v7().simple());
        let topology = Topology::for_service(
            &prefix,
            "test-service",
            vec![BOUND_KEY.to_owned()],
            delivery_limit,
        );
        let connection = rabbitmq::connect(&url, "amqp-adapter-tests")
            .await
            .expect("the test broker is reachable (set TEST_AMQP_URL)");
        let channel = connection.create_channel().await.expect("open a channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("enable confirms");
        topology.declare(&channel).await.expect("declare topology");
        Self {
            url,
            prefix,
            topology,
            connection,
            channel,
        }
    }

    pub async fn publish(&self, body: &[u8], message_id: Option<&str>) {
        rabbitmq::publish_raw(
            &self.channel,
            &self.topology.exchange,
            BOUND_KEY,
            body,
            message_id,
        )
        .await
        .expect("publish a raw message");
    }

    pub async fn queue_depth(&self) -> u32 {
        rabbitmq::queue_depth(&self.channel, &self.topology.queue)
            .await
            .expect("inspect the queue")
    }

    pub async fn dlq_depth(&self) -> u32 {
        rabbitmq::dlq_depth(&self.channel, &self.topology)
            .await
            .expect("inspect the dlq")
    }

    /// Waits until the queue holds `ready` messages and the DLQ `dead`.
    pub async fn wait_for_depths(&self, ready: u32, dead: u32) {
        eventually(
            &format!("queue depth {ready} and dlq depth {dead}"),
            || async { self.queue_depth().await == ready && self.dlq_depth().await == dead },
        )
        .await;
    }

    pub fn spawn_consumer(
        &self,
        url: &str,
        handler: Arc<dyn MessageHandler>,
        prefetch: u16,
        retry_delay: Duration,
    ) -> RunningConsumer {
        self.spawn_consumer_with(url, handler, prefetch, retry_delay, Dispatch::default())
    }

    /// A consumer handing over `dispatch.batch_size` deliveries at once, `dispatch.concurrency`
    /// batches at a time.
    pub fn spawn_consumer_with(
        &self,
        url: &str,
        handler: Arc<dyn MessageHandler>,
        prefetch: u16,
        retry_delay: Duration,
        dispatch: Dispatch,
    ) -> RunningConsumer {
        let shutdown = CancellationToken::new();
        let consumer = Consumer::new(url, "test-consumer", self.topology.clone(), handler)
            .with_dispatch(dispatch)
            .with_prefetch(prefetch)
            .with_retry_delay(retry_delay)
            .with_reconnect_backoff(Duration::from_millis(50), Duration::from_millis(500));
        let task = tokio::spawn(consumer.run(shutdown.clone()));
        RunningConsumer { shutdown, task }
    }

    pub async fn cleanup(self) {
        self.topology
            .delete(&self.channel)
            .await
            .expect("delete the test topology");
        let _ = self.connection.close(200, "OK".into()).await;
    }
}

pub struct RunningConsumer {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl RunningConsumer {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the consumer stops in time")
            .expect("the consumer task did not panic")
            .expect("the consumer stops cleanly");
    }
}

type Decide = dyn Fn(&InboundMessage) -> HandleOutcome + Send + Sync;

/// A handler that reports every delivery on a channel and answers with a scripted outcome,
/// optionally waiting on a gate first (to hold a delivery in flight).
pub struct ScriptedHandler {
    decide: Box<Decide>,
    seen: mpsc::UnboundedSender<InboundMessage>,
    gate: Option<Arc<Notify>>,
}

impl ScriptedHandler {
    pub fn new(
        decide: impl Fn(&InboundMessage) -> HandleOutcome + Send + Sync + 'static,
    ) -> (Arc<Self>, Deliveries) {
        let (seen, rx) = mpsc::unbounded_channel();
        let handler = Self {
            decide: Box::new(decide),
            seen,
            gate: None,
        };
        (Arc::new(handler), Deliveries(rx))
    }

    pub fn gated(
        gate: Arc<Notify>,
        decide: impl Fn(&InboundMessage) -> HandleOutcome + Send + Sync + 'static,
    ) -> (Arc<Self>, Deliveries) {
        let (seen, rx) = mpsc::unbounded_channel();
        let handler = Self {
            decide: Box::new(decide),
            seen,
            gate: Some(gate),
        };
        (Arc::new(handler), Deliveries(rx))
    }
}

#[async_trait]
impl MessageHandler for ScriptedHandler {
    fn routing_keys(&self) -> Vec<&'static str> {
        vec![BOUND_KEY]
    }

    async fn handle(&self, message: &InboundMessage) -> HandleOutcome {
        let _ = self.seen.send(message.clone());
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        (self.decide)(message)
    }
}

/// The deliveries a [`ScriptedHandler`] received, in order.
pub struct Deliveries(mpsc::UnboundedReceiver<InboundMessage>);

impl Deliveries {
    pub async fn next(&mut self) -> InboundMessage {
        tokio::time::timeout(PATIENCE, self.0.recv())
            .await
            .expect("a delivery arrives in time")
            .expect("the handler is alive")
    }

    /// Asserts nothing more arrives for a while.
    pub async fn assert_quiet(&mut self, quiet_for: Duration) {
        if let Ok(Some(message)) = tokio::time::timeout(quiet_for, self.0.recv()).await {
            panic!("unexpected delivery: {message:?}");
        }
    }
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy in front of the broker. [`Proxy::sever`] cuts every connection made so far, as a
/// network failure or a broker restart would, while new connections keep working.
/// [`Proxy::stall`] holds back everything the broker sends (confirms included) until resumed.
pub struct Proxy {
    pub url: String,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    acceptor: AbortHandle,
    stalled: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(broker_url: &str) -> Self {
        let mut uri: AMQPUri = broker_url.parse().expect("TEST_AMQP_URL is an AMQP URL");
        let target = format!("{}:{}", uri.authority.host, uri.authority.port);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let links = Arc::new(Mutex::new(Vec::new()));
        let (stalled, stall_watch) = watch::channel(false);
        let acceptor = {
            let links = Arc::clone(&links);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let link = tokio::spawn(forward(client, target.clone(), stall_watch.clone()));
                    links
                        .lock()
                        .expect("proxy links lock")
                        .push(link.abort_handle());
                }
            })
            .abort_handle()
        };
        uri.authority.host = "127.0.0.1".to_owned();
        uri.authority.port = port;
        Self {
            url: uri.to_string(),
            links,
            acceptor,
            stalled,
        }
    }

    pub fn sever(&self) {
        for link in self.links.lock().expect("proxy links lock").drain(..) {
            link.abort();
        }
    }

    pub fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }
}

async fn forward(client: TcpStream, target: String, mut stalled: watch::Receiver<bool>) {
    let Ok(server) = TcpStream::connect(&target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::io::copy(&mut client_read, &mut server_write);
    let downstream = async {
        let mut buffer = vec![0_u8; 16 * 1024];
        loop {
            let read = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if stalled.wait_for(|stalled| !*stalled).await.is_err()
                || client_write.write_all(&buffer[..read]).await.is_err()
            {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        () = downstream => {}
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.sever();
    }
}
