//! Starting a system in the test process: both services of the distributed composition, or the
//! standalone one, on port 0, each as a task that stops gracefully.

use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::isolation::{order_settings, product_settings, standalone_settings};
use crate::{Backend, Endpoint, Infra, Isolation, TestSystem};

/// A service running in the test process.
#[derive(Debug)]
pub struct ServiceHandle {
    /// The bound port.
    pub port: u16,
    /// `http://127.0.0.1:{port}`.
    pub base_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ServiceHandle {
    fn spawn<F>(port: u16, run: impl FnOnce(oneshot::Receiver<()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(stopped));
        Self {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("service failed: {e:#}"),
                Ok(Err(e)) => panic!("service task panicked: {e}"),
                Err(_) => panic!("service did not stop within 30 s"),
            }
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        // The subscriber lives as long as the test process; so does its exporter.
        std::mem::forget(adapters::runtime::telemetry::init("tests"));
    }
}

/// The tests' client: an admin's bearer token on every request that sets none (tests of
/// other callers send their own, see `TestSystem::request_as`).
fn http_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", crate::auth::admin_token())
            .parse()
            .expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// Starts both services against the test servers, isolated from every other test.
pub async fn spawn_system() -> TestSystem {
    spawn_system_with(|_| {}, |_| {}).await
}

/// Like [`spawn_system`], with the settings of each service adjusted first (to point one at
/// a dead dependency, say).
pub async fn spawn_system_with(
    product: impl FnOnce(&mut product_service::Settings),
    order: impl FnOnce(&mut order_service::Settings),
) -> TestSystem {
    init_logs();
    let infra = Infra::from_env();
    let iso = Isolation::new();
    let amqp_prefix = format!("t{}.", iso.id);
    if let Some(users) = &infra.service_users {
        users.grant_topic_permissions(&amqp_prefix).await;
    }
    let mut ps = product_settings(&infra, &iso);
    product(&mut ps);
    let product_db_url = ps.database.url.expose_secret().to_owned();
    let product_app = product_service::distributed::start(ps)
        .await
        .expect("the product service must start");
    let product = ServiceHandle::spawn(product_app.port(), |stopped| {
        product_app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    let mut os = order_settings(&infra, &iso, &product.base_url);
    order(&mut os);
    let order_db_url = os.database.url.expose_secret().to_owned();
    let order_app = order_service::distributed::start(os)
        .await
        .expect("the order service must start");
    let order = ServiceHandle::spawn(order_app.port(), |stopped| {
        order_app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    TestSystem {
        order: Endpoint::new(order.port),
        product: Endpoint::new(product.port),
        product_db_url,
        order_db_url,
        http: http_client(),
        backend: Backend::Distributed {
            amqp_prefix,
            product_cache_prefix: format!("t{}:product:", iso.id),
            infra,
        },
        // Stopped in this order: the order service first, as it calls the product service.
        running: vec![order, product],
    }
}

/// Starts the standalone composition in this process on free ports, with its own data
/// directory.
pub async fn spawn_standalone() -> TestSystem {
    spawn_standalone_with(|_| {}).await
}

/// Like [`spawn_standalone`], with its settings adjusted first.
pub async fn spawn_standalone_with(adjust: impl FnOnce(&mut standalone::Settings)) -> TestSystem {
    init_logs();
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut settings = standalone_settings(data_dir.path());
    adjust(&mut settings);
    let app = standalone::Standalone::build(settings)
        .await
        .expect("the standalone system must start");
    let (order, product) = (
        Endpoint::new(app.order_port()),
        Endpoint::new(app.product_port()),
    );
    let (order_db_url, product_db_url) = (
        app.order_db_url().to_owned(),
        app.product_db_url().to_owned(),
    );
    let (bus, product_cache) = (app.bus().clone(), app.product_cache().clone());
    let handle = ServiceHandle::spawn(order.port, |stopped| {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
    });
    TestSystem {
        order,
        product,
        product_db_url,
        order_db_url,
        http: http_client(),
        backend: Backend::Standalone {
            bus,
            product_cache,
            _data_dir: data_dir,
        },
        running: vec![handle],
    }
}
