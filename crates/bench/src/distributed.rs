//! The distributed composition: `order-service` and `product-service` as processes on the
//! run's own MariaDB databases, RabbitMQ prefix and Redis key prefix.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::api::{self, Apis};
use crate::ceilings::Ceilings;
use crate::collector_down;
use crate::db::PendingProbe;
use crate::plan::{Env, Plan};
use crate::process::{Service, free_port};
use crate::reads::{Get, get_loop};
use crate::report::{Report, Row};
use crate::seed::{SeedProduct, seed_orders};
use crate::steps::{self, LIST_CLIENTS, READ_CLIENTS, Target, check_load};

fn settings(
    env: &Env,
    service: &str,
    database: &str,
    port: u16,
    namespace: &str,
) -> Vec<(String, String)> {
    [
        ("RUST_LOG", "warn".to_owned()),
        ("APP__HTTP__HOST", "127.0.0.1".to_owned()),
        ("APP__HTTP__PORT", port.to_string()),
        ("APP__HTTP__READINESS_DRAIN_MS", "0".to_owned()),
        // One client sends the whole load: a per-caller limit would measure the limiter.
        ("APP__RATE_LIMIT__ENABLED", "false".to_owned()),
        (
            "APP__DATABASE__URL",
            format!("{}/{database}", env.mysql_url),
        ),
        ("APP__REDIS__URL", env.redis_url.clone()),
        ("APP__REDIS__KEY_PREFIX", format!("{namespace}:{service}:")),
        (
            "APP__AMQP__URL",
            match service {
                "order-service" => env.order_amqp_url.clone(),
                _ => env.product_amqp_url.clone(),
            },
        ),
        ("APP__AMQP__PREFIX", format!("{namespace}.")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .chain(env.tokens.service_env())
    .collect()
}

/// `base` with the settings of `extra` added, replacing those of the same name.
fn overridden(
    mut base: Vec<(String, String)>,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    base.retain(|(k, _)| extra.iter().all(|(e, _)| e != k));
    base.extend(extra.iter().cloned());
    base
}

/// Both services, started on databases, key and queue prefixes of their own.
#[derive(Debug)]
pub struct Pair {
    /// `order-service`.
    pub order: Service,
    /// `product-service`.
    pub product: Service,
    /// Their APIs.
    pub apis: Apis,
    /// The order service's database name.
    pub order_db: String,
}

impl Pair {
    /// Starts product-service, then order-service pointing at it, and waits until both are
    /// ready. A non-empty `tag` keeps this start's databases, Redis keys, RabbitMQ names and
    /// logs apart from the run's first start, so that nothing left by one weighs on the
    /// other's figures; `extra` is added to (or replaces in) both environments.
    pub async fn start(
        env: &Env,
        http: &reqwest::Client,
        tag: &str,
        extra: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let suffix = |sep: &str| {
            if tag.is_empty() {
                String::new()
            } else {
                format!("{sep}{tag}")
            }
        };
        let namespace = format!("bench{}{}", env.run_id, suffix(""));
        let (order_port, product_port) = (free_port()?, free_port()?);
        let order_db = env.database(&format!("order{}", suffix("_")));
        let product_env = settings(
            env,
            "product-service",
            &env.database(&format!("product{}", suffix("_"))),
            product_port,
            &namespace,
        );
        let mut product = Service::start(
            "product-service",
            &env.bin("product-service"),
            &["serve"],
            &overridden(product_env, extra),
            env.log(&format!("product-service{}", suffix("-"))),
        )?;
        let product_url = format!("http://127.0.0.1:{product_port}");
        product
            .wait_ready(http, &format!("{product_url}/health/ready"))
            .await?;
        let mut order_env = settings(env, "order-service", &order_db, order_port, &namespace);
        order_env.push(("APP__PRODUCT_SERVICE__URL".to_owned(), product_url.clone()));
        let mut order = Service::start(
            "order-service",
            &env.bin("order-service"),
            &["serve"],
            &overridden(order_env, extra),
            env.log(&format!("order-service{}", suffix("-"))),
        )?;
        let apis = Apis {
            order: format!("http://127.0.0.1:{order_port}"),
            product: product_url,
            tokens: env.tokens.clone(),
        };
        order
            .wait_ready(http, &format!("{}/health/ready", apis.order))
            .await?;
        Ok(Self {
            order,
            product,
            apis,
            order_db,
        })
    }

    /// Stops both, the order service first (it calls the product service).
    pub async fn stop(self) {
        self.order.stop().await;
        self.product.stop().await;
    }
}

/// The opaque cursor the order API hands out after the order `id` (see
/// `adapters::http::Cursor`): lets the harness start a listing deep in the seeded orders.
fn cursor_after(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

/// Starts both services, runs every step against them and stops them; then the same order
/// load with tracing on and the collector down, on a second start.
pub async fn run(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    ceilings: &Ceilings,
) -> anyhow::Result<()> {
    let http = api::client()?;
    let pair = Pair::start(env, &http, "", &[]).await?;
    let result = steps_of(
        env,
        plan,
        report,
        ceilings,
        &http,
        pair.apis.clone(),
        &pair.order_db,
        [&pair.order, &pair.product],
    )
    .await;
    pair.stop().await;
    result?;
    // After everything else and with the first services stopped, so that they take no share
    // of the cores and no earlier figure is measured next to a traced process.
    collector_down::run(env, plan, report, &http).await
}

#[allow(
    clippy::too_many_arguments,
    reason = "the run's context, handed down once from run()"
)]
async fn steps_of(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    ceilings: &Ceilings,
    http: &reqwest::Client,
    apis: Apis,
    order_db: &str,
    services: [&Service; 2],
) -> anyhow::Result<()> {
    const C: &str = "distributed";
    let (hot, many) = steps::fixtures(&apis, http, plan).await?;
    let idle = steps::idle_memory(&services);
    let target = Target {
        composition: C,
        probe: PendingProbe::connect(&format!("{}/{order_db}", env.mysql_url)).await?,
        apis,
    };

    let gets = many
        .iter()
        .map(|p| Get::public(format!("{}/products/{}", target.apis.product, p.id)))
        .collect();
    let stats = get_loop(http, gets, READ_CLIENTS, plan.read_secs).await;
    let measure = format!("GET /products/{{id}}, cache hit, c={READ_CLIENTS}");
    check_load(report, &format!("{C} {measure}"), &stats);
    report.push(Row::load(C, &measure, &stats).against("Redis GET", ceilings.redis_get));

    let hot = &hot[0];
    let ids = steps::order_loads(
        report,
        plan,
        http,
        &target,
        hot,
        &many,
        Some(ceilings.order_tx),
    )
    .await?;
    steps::order_reads(
        report,
        plan,
        http,
        &target,
        &ids,
        Some(("point select", ceilings.point_select)),
    )
    .await;
    steps::fixed_rate(report, plan, http, &target, &many).await?;
    listing_at_depth(plan, report, http, &target, &many[0]).await?;
    steps::memory_rows(report, C, &idle, &services);
    Ok(())
}

/// Seeds the order database, proves the seeded orders read back through the API, then lists
/// the first page and a page deep in the list.
async fn listing_at_depth(
    plan: &Plan,
    report: &mut Report,
    http: &reqwest::Client,
    target: &Target,
    product: &api::Product,
) -> anyhow::Result<()> {
    const C: &str = "distributed";
    let seed_product = SeedProduct {
        id: product.id.parse()?,
        name: product.name.clone(),
        price_minor: product.price_minor,
    };
    let seeded = seed_orders(
        target.probe.connection(),
        plan.seed_orders,
        &seed_product,
        chrono::Utc::now(),
    )
    .await?;
    report.push(
        Row::new(
            C,
            "bulk seed of orders (+ items, history)",
            Some(seeded.orders as f64 / seeded.elapsed.as_secs_f64().max(1e-3)),
            "orders/s",
        )
        .note(&format!(
            "{} orders in {:.1} s",
            seeded.orders,
            seeded.elapsed.as_secs_f64()
        )),
    );
    let middle = seeded.id_at(seeded.orders / 2);
    let order = target
        .apis
        .order_json(http, &format!("/orders/{middle}"))
        .await?;
    if order["status"] != "confirmed" || order["items"].as_array().map_or(0, Vec::len) != 1 {
        report.fail(format!("a seeded order reads back wrong: {order}"));
    }
    let deep = format!("/orders?limit=100&cursor={}", cursor_after(middle));
    let mut path = deep.clone();
    for _ in 0..2 {
        let page = target.apis.order_json(http, &path).await?;
        let items = page["items"].as_array().map_or(0, Vec::len);
        let next = page["next_cursor"].as_str().map(str::to_owned);
        match next {
            Some(next) if items == 100 => path = format!("/orders?limit=100&cursor={next}"),
            _ => {
                report.fail(format!(
                    "a page deep in the seeded orders has {items} orders and no next cursor"
                ));
                break;
            }
        }
    }
    for (label, path) in [
        ("first page", "/orders?limit=100".to_owned()),
        ("a page in the middle", deep),
    ] {
        // An operator paging through every order: a customer sees only its own.
        let get = Get::with(
            format!("{}{path}", target.apis.order),
            target.apis.tokens.admin(),
        );
        let stats = get_loop(http, vec![get], LIST_CLIENTS, plan.read_secs).await;
        let measure = format!(
            "GET /orders?limit=100, c={LIST_CLIENTS}, {label}, {} seeded orders",
            seeded.orders
        );
        check_load(report, &format!("{C} {measure}"), &stats);
        report.push(Row::load(C, &measure, &stats));
    }
    Ok(())
}
