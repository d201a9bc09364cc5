use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::MessageId;
use ports::messaging::{Dispatch, HandleOutcome};
use tokio::sync::Notify;

use crate::helpers::{BOUND_KEY, Proxy, ScriptedHandler, TestBroker, amqp_url};

const QUICK_RETRY: Duration = Duration::from_millis(50);

#[tokio::test]
async fn a_handled_message_is_acked_with_its_metadata_passed_on() {
    let broker = TestBroker::start(3).await;
    let (handler, mut seen) = ScriptedHandler::new(|_| HandleOutcome::Ack);
    let consumer = broker.spawn_consumer(&broker.url, handler, 4, QUICK_RETRY);
    let id = MessageId::new();

    broker
        .publish(b"{\"hello\":1}", Some(&id.to_string()))
        .await;
    broker.publish(b"no id", None).await;
    broker.publish(b"bad id", Some("not-a-uuid")).await;

    let first = seen.next().await;
    assert_eq!(first.message_id, Some(id));
    assert_eq!(first.routing_key, BOUND_KEY);
    assert_eq!(first.body, b"{\"hello\":1}");
    assert!(!first.redelivered);
    assert_eq!(seen.next().await.message_id, None);
    assert_eq!(seen.next().await.message_id, None);
    consumer.stop().await;
    broker.wait_for_depths(0, 0).await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_dead_lettered_message_lands_in_the_dlq_and_the_next_one_is_still_handled() {
    let broker = TestBroker::start(3).await;
    let (handler, mut seen) = ScriptedHandler::new(|message| {
        if message.body == b"poison" {
            HandleOutcome::DeadLetter("malformed".to_owned())
        } else {
            HandleOutcome::Ack
        }
    });
    let consumer = broker.spawn_consumer(&broker.url, handler, 4, QUICK_RETRY);

    broker.publish(b"poison", None).await;
    broker.publish(b"good", None).await;

    assert_eq!(seen.next().await.body, b"poison");
    assert_eq!(seen.next().await.body, b"good");
    broker.wait_for_depths(0, 1).await;
    seen.assert_quiet(Duration::from_millis(300)).await;
    consumer.stop().await;
    let dead = adapters::rabbitmq::get_one(&broker.channel, &broker.topology.dlq)
        .await
        .expect("get")
        .expect("the poison message is in the dlq");
    assert_eq!(dead.delivery.data, b"poison");
    broker.cleanup().await;
}

#[tokio::test]
async fn a_retried_message_is_redelivered_then_dead_lettered_after_the_delivery_limit() {
    let limit = 2;
    let broker = TestBroker::start(limit).await;
    let (handler, mut seen) =
        ScriptedHandler::new(|_| HandleOutcome::Retry("database unavailable".to_owned()));
    let consumer = broker.spawn_consumer(&broker.url, handler, 4, QUICK_RETRY);

    broker.publish(b"flaky", None).await;

    let first = seen.next().await;
    assert!(!first.redelivered);
    for _ in 0..limit {
        let again = seen.next().await;
        assert_eq!(again.body, b"flaky");
        assert!(again.redelivered);
    }
    broker.wait_for_depths(0, 1).await;
    seen.assert_quiet(Duration::from_millis(300)).await;
    consumer.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_retry_waits_before_the_redelivery() {
    let broker = TestBroker::start(5).await;
    let retried = Arc::new(AtomicBool::new(false));
    let (handler, mut seen) = {
        let retried = Arc::clone(&retried);
        ScriptedHandler::new(move |_| {
            if retried.swap(true, Ordering::SeqCst) {
                HandleOutcome::Ack
            } else {
                HandleOutcome::Retry("busy".to_owned())
            }
        })
    };
    let delay = Duration::from_millis(400);
    let consumer = broker.spawn_consumer(&broker.url, handler, 4, delay);

    broker.publish(b"later", None).await;

    seen.next().await;
    let started = tokio::time::Instant::now();
    let again = seen.next().await;
    assert!(again.redelivered);
    assert!(
        started.elapsed() >= delay,
        "redelivered after {:?}",
        started.elapsed()
    );
    broker.wait_for_depths(0, 0).await;
    consumer.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_panicking_handler_does_not_stop_the_consumer() {
    let broker = TestBroker::start(3).await;
    let (handler, mut seen) = ScriptedHandler::new(|message| {
        assert!(message.redelivered, "first attempt fails");
        HandleOutcome::Ack
    });
    let consumer = broker.spawn_consumer(&broker.url, handler, 4, QUICK_RETRY);

    broker.publish(b"boom", None).await;

    assert!(!seen.next().await.redelivered);
    assert!(seen.next().await.redelivered);
    broker.wait_for_depths(0, 0).await;
    consumer.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn the_consumer_stops_on_cancel_after_finishing_the_message_in_flight() {
    let broker = TestBroker::start(3).await;
    let gate = Arc::new(Notify::new());
    let (handler, mut seen) = ScriptedHandler::gated(Arc::clone(&gate), |_| HandleOutcome::Ack);
    // One delivery at a time, so that the other two stay prefetched.
    let serial = Dispatch {
        batch_size: 1,
        concurrency: 1,
    };
    let consumer = broker.spawn_consumer_with(&broker.url, handler, 10, QUICK_RETRY, serial);
    for body in [b"one", b"two", b"six"] {
        broker.publish(body, None).await;
    }
    assert_eq!(seen.next().await.body, b"one");

    // All three are prefetched; the first is held in the handler.
    consumer.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !consumer.task.is_finished(),
        "the message in flight is finished first"
    );
    gate.notify_one();
    consumer.stop().await;

    seen.assert_quiet(Duration::from_millis(200)).await;
    // The handled message was acked, the prefetched ones went back to the queue.
    broker.wait_for_depths(2, 0).await;
    broker.cleanup().await;
}

#[tokio::test]
async fn a_consumer_that_cannot_reach_the_broker_still_stops_on_cancel() {
    let broker = TestBroker::start(3).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (handler, _seen) = ScriptedHandler::new(|_| HandleOutcome::Ack);
    let consumer = broker.spawn_consumer(
        &format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
        handler,
        4,
        QUICK_RETRY,
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!consumer.task.is_finished(), "it keeps retrying");
    consumer.stop().await;
    broker.cleanup().await;
}

#[tokio::test]
async fn the_consumer_resumes_after_the_connection_drops() {
    let broker = TestBroker::start(3).await;
    let proxy = Proxy::start(&amqp_url()).await;
    let (handler, mut seen) = ScriptedHandler::new(|_| HandleOutcome::Ack);
    let consumer = broker.spawn_consumer(&proxy.url, handler, 4, QUICK_RETRY);
    broker.publish(b"before", None).await;
    assert_eq!(seen.next().await.body, b"before");
    broker.wait_for_depths(0, 0).await;

    proxy.sever();
    broker.publish(b"after", None).await;

    assert_eq!(seen.next().await.body, b"after");
    broker.wait_for_depths(0, 0).await;
    consumer.stop().await;
    broker.cleanup().await;
}
