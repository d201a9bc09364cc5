//! Where the test servers (MariaDB/MySQL, Redis, RabbitMQ) are, read from the environment
//! `make test` prepares.

/// Where the test servers are.
#[derive(Debug, Clone)]
pub struct Infra {
    /// `mysql://user:pass@host:port` (no database).
    pub mysql_url: String,
    /// `redis://host:port`.
    pub redis_url: String,
    /// `amqp://user:pass@host:port/vhost`.
    pub amqp_url: String,
}

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set. Run the tests with `make test`, which starts MariaDB, Redis and \
             RabbitMQ (deploy/local-infra/infra.sh), or export TEST_MYSQL_URL, TEST_REDIS_URL \
             and TEST_AMQP_URL pointing at running servers."
        ),
    }
}

impl Infra {
    /// Reads the servers' addresses from the environment; panics with instructions when
    /// one is missing.
    pub fn from_env() -> Self {
        Self {
            mysql_url: required("TEST_MYSQL_URL").trim_end_matches('/').to_owned(),
            redis_url: required("TEST_REDIS_URL"),
            amqp_url: required("TEST_AMQP_URL"),
        }
    }
}
