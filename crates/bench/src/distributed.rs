//! The distributed composition: `order-service` and `product-service` as processes on the
//! run's own MariaDB databases, RabbitMQ prefix and Redis key prefix.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::api::{self, Apis};
use crate::ceilings::Ceilings;
use crate::db::PendingProbe;
use crate::plan::{Env, Plan};
use crate::process::{Service, free_port};
use crate::reads::get_loop;
use crate::report::{Report, Row};
use crate::seed::{SeedProduct, seed_orders};
use crate::steps::{self, LIST_CLIENTS, READ_CLIENTS, Target, check_load};

/// Stock of the hot product: enough for any run (the domain's maximum is 10⁹).
pub const HOT_STOCK: u64 = 1_000_000_000;
/// Stock of each of the many products.
pub const MANY_STOCK: u64 = 1_000_000;

fn settings(env: &Env, service: &str, database: &str, port: u16) -> Vec<(String, String)> {
    [
        ("RUST_LOG", "warn".to_owned()),
        ("APP__HTTP__HOST", "127.0.0.1".to_owned()),
        ("APP__HTTP__PORT", port.to_string()),
        ("APP__HTTP__READINESS_DRAIN_MS", "0".to_owned()),
        (
            "APP__DATABASE__URL",
            format!("{}/{database}", env.mysql_url),
        ),
        ("APP__REDIS__URL", env.redis_url.clone()),
        (
            "APP__REDIS__KEY_PREFIX",
            format!("bench{}:{service}:", env.run_id),
        ),
        ("APP__AMQP__URL", env.amqp_url.clone()),
        ("APP__AMQP__PREFIX", format!("bench{}.", env.run_id)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The opaque cursor the order API hands out after the order `id` (see
/// `adapters::http::Cursor`): lets the harness start a listing deep in the seeded orders.
fn cursor_after(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

/// Starts both services, runs every step against them and stops them.
pub async fn run(
    env: &Env,
    plan: &Plan,
    report: &mut Report,
    ceilings: &Ceilings,
) -> anyhow::Result<()> {
    let http = api::client()?;
    let (order_port, product_port) = (free_port()?, free_port()?);
    let order_db = env.database("order");
    let mut product = Service::start(
        "product-service",
        &env.bin("product-service"),
        &["serve"],
        &settings(
            env,
            "product-service",
            &env.database("product"),
            product_port,
        ),
        env.log("product-service"),
    )?;
    let product_url = format!("http://127.0.0.1:{product_port}");
    product
        .wait_ready(&http, &format!("{product_url}/health/ready"))
        .await?;
    let mut order_env = settings(env, "order-service", &order_db, order_port);
    order_env.push(("APP__PRODUCT_SERVICE__URL".to_owned(), product_url.clone()));
    let mut order = Service::start(
        "order-service",
        &env.bin("order-service"),
        &["serve"],
        &order_env,
        env.log("order-service"),
    )?;
    let apis = Apis {
        order: format!("http://127.0.0.1:{order_port}"),
        product: product_url,
    };
    order
        .wait_ready(&http, &format!("{}/health/ready", apis.order))
        .await?;
    let result = steps_of(
        env,
        plan,
        report,
        ceilings,
        &http,
        apis,
        &order_db,
        [&order, &product],
    )
    .await;
    order.stop().await;
    product.stop().await;
    result
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
    let hot = apis.create_products(http, 1, HOT_STOCK).await?;
    let many = apis
        .create_products(http, plan.products, MANY_STOCK)
        .await?;
    apis.warm_caches(http, &hot).await?;
    apis.warm_caches(http, &many).await?;
    let idle = steps::idle_memory(&services);
    let target = Target {
        composition: C,
        probe: PendingProbe::connect(&format!("{}/{order_db}", env.mysql_url)).await?,
        apis,
    };

    let urls = many
        .iter()
        .map(|p| format!("{}/products/{}", target.apis.product, p.id))
        .collect();
    let stats = get_loop(http, urls, READ_CLIENTS, plan.read_secs).await;
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
        let url = format!("{}{path}", target.apis.order);
        let stats = get_loop(http, vec![url], LIST_CLIENTS, plan.read_secs).await;
        let measure = format!(
            "GET /orders?limit=100, c={LIST_CLIENTS}, {label}, {} seeded orders",
            seeded.orders
        );
        check_load(report, &format!("{C} {measure}"), &stats);
        report.push(Row::load(C, &measure, &stats));
    }
    Ok(())
}
