//! Where the test servers (MariaDB/MySQL, Redis, RabbitMQ) are, read from the environment
//! `make test` prepares.

/// Where the test servers are.
#[derive(Debug, Clone)]
pub struct Infra {
    /// `mysql://user:pass@host:port` (no database).
    pub mysql_url: String,
    /// `redis://host:port`.
    pub redis_url: String,
    /// `amqp://user:pass@host:port/vhost`: an administrator, for the tests' own set-up and
    /// clean-up (and for the services when they have no users of their own).
    pub amqp_url: String,
    /// The services' own broker users, when the broker has them (`make test`'s does).
    pub service_users: Option<ServiceUsers>,
}

/// The services' own RabbitMQ users (deploy/rabbitmq/service-users.sh) and the management API
/// that extends their topic permissions to a test's exchange.
#[derive(Debug, Clone)]
pub struct ServiceUsers {
    /// `TEST_AMQP_ORDER_URL`: the order service's user.
    pub order_url: String,
    /// `TEST_AMQP_PRODUCT_URL`: the product service's user.
    pub product_url: String,
    /// `TEST_RABBITMQ_API_URL`: `http://admin:pass@host:port/api`.
    pub api_url: String,
}

fn required(var: &str) -> String {
    optional(var).unwrap_or_else(|| {
        panic!(
            "{var} is not set. Run the tests with `make test`, which starts MariaDB, Redis and \
             RabbitMQ (deploy/local-infra/infra.sh), or export TEST_MYSQL_URL, TEST_REDIS_URL \
             and TEST_AMQP_URL pointing at running servers."
        )
    })
}

fn optional(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

impl Infra {
    /// Reads the servers' addresses from the environment; panics with instructions when
    /// one is missing. The services' users are optional, but all three of their variables go
    /// together.
    pub fn from_env() -> Self {
        let service_users = match (
            optional("TEST_AMQP_ORDER_URL"),
            optional("TEST_AMQP_PRODUCT_URL"),
        ) {
            (None, None) => None,
            (Some(order_url), Some(product_url)) => Some(ServiceUsers {
                order_url,
                product_url,
                api_url: required("TEST_RABBITMQ_API_URL"),
            }),
            _ => panic!("set both TEST_AMQP_ORDER_URL and TEST_AMQP_PRODUCT_URL, or neither"),
        };
        Self {
            mysql_url: required("TEST_MYSQL_URL").trim_end_matches('/').to_owned(),
            redis_url: required("TEST_REDIS_URL"),
            amqp_url: required("TEST_AMQP_URL"),
            service_users,
        }
    }

    /// The broker URL `service` (`order` or `product`) connects with: its own user's when
    /// there is one.
    pub fn service_amqp_url(&self, service: &str) -> &str {
        match (&self.service_users, service) {
            (Some(users), "order") => &users.order_url,
            (Some(users), "product") => &users.product_url,
            _ => &self.amqp_url,
        }
    }
}

impl ServiceUsers {
    /// Copies each service user's topic permissions on `shop.events` to `{prefix}shop.events`.
    /// The broker keeps them per exact exchange name, and a user without any on an exchange may
    /// publish every routing key there: without this, a test's services would run unchecked.
    pub async fn grant_topic_permissions(&self, prefix: &str) {
        let mut api = reqwest::Url::parse(&self.api_url).expect("TEST_RABBITMQ_API_URL is a URL");
        let (admin, password) = (api.username().to_owned(), api.password().map(str::to_owned));
        // The credentials go in a header, not in the URL.
        let _ = api.set_username("");
        let _ = api.set_password(None);
        let client = reqwest::Client::new();
        for user in ["order-service", "product-service"] {
            let url = format!(
                "{}/topic-permissions/%2F/{user}",
                api.as_str().trim_end_matches('/')
            );
            let granted: Vec<serde_json::Value> = client
                .get(&url)
                .basic_auth(&admin, password.as_deref())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("the management API lists the topic permissions")
                .json()
                .await
                .expect("topic permissions as JSON");
            let base = granted
                .iter()
                .find(|permission| permission["exchange"] == "shop.events")
                .unwrap_or_else(|| panic!("{user} has no topic permissions on shop.events"));
            client
                .put(&url)
                .basic_auth(&admin, password.as_deref())
                .json(&serde_json::json!({
                    "exchange": adapters::rabbitmq::Topology::exchange_name(prefix),
                    "write": base["write"],
                    "read": base["read"],
                }))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .expect("the management API sets the topic permissions");
        }
    }
}
