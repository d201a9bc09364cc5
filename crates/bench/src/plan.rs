//! What a run measures and for how long (smoke or full), and where everything is: read from
//! the environment `make bench` (deploy/bench/run.sh) prepares.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::tokens::Tokens;

/// A short run that only proves every step works, or the real measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every step for a second or two, small seeds; asserts figures exist, never timings.
    Smoke,
    /// The measurement.
    Full,
}

/// Durations, sizes and concurrencies of every step.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Smoke or full.
    pub mode: Mode,
    /// Each read step's closed loop.
    pub read_secs: Duration,
    /// Each `POST /orders` closed loop.
    pub write_secs: Duration,
    /// The fixed-rate order load: orders per second.
    pub open_rate: f64,
    /// The fixed-rate order load: its length.
    pub open_secs: Duration,
    /// Longest wait for the orders to settle after a load.
    pub settle_cap: Duration,
    /// Orders the bulk loader puts in before the listing steps.
    pub seed_orders: u64,
    /// Products of the "many products" order load.
    pub products: usize,
    /// `redis-benchmark -n`.
    pub redis_requests: u64,
    /// Rows of sysbench's point-select table.
    pub sysbench_rows: u64,
    /// Each sysbench run.
    pub sysbench_secs: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(raw) if !raw.is_empty() => raw
            .parse()
            .ok()
            .with_context(|| format!("{name}={raw} is not a valid value")),
        _ => Ok(default),
    }
}

impl Plan {
    /// The plan of `mode`; `BENCH_SEED_ORDERS`, `BENCH_OPEN_RATE`, `BENCH_OPEN_SECS`,
    /// `BENCH_READ_SECS` and `BENCH_WRITE_SECS` override its sizes.
    pub fn for_mode(mode: Mode) -> anyhow::Result<Self> {
        let smoke = mode == Mode::Smoke;
        let pick = |s: u64, f: u64| if smoke { s } else { f };
        Ok(Self {
            mode,
            read_secs: Duration::from_secs(env_or("BENCH_READ_SECS", pick(1, 15))?),
            write_secs: Duration::from_secs(env_or("BENCH_WRITE_SECS", pick(1, 30))?),
            open_rate: env_or("BENCH_OPEN_RATE", if smoke { 50.0 } else { 500.0 })?,
            open_secs: Duration::from_secs(env_or("BENCH_OPEN_SECS", pick(2, 60))?),
            settle_cap: Duration::from_secs(env_or("BENCH_SETTLE_CAP_SECS", pick(30, 120))?),
            seed_orders: env_or("BENCH_SEED_ORDERS", pick(10_000, 1_000_000))?,
            products: 1_000,
            redis_requests: pick(20_000, 1_000_000),
            sysbench_rows: pick(1_000, 100_000),
            sysbench_secs: pick(1, 15),
        })
    }
}

/// Where the binaries, the servers and the output are.
#[derive(Debug, Clone)]
pub struct Env {
    /// Holds `order-service`, `product-service` and `standalone`.
    pub bin_dir: PathBuf,
    /// `target/bench`: report and service logs.
    pub out_dir: PathBuf,
    /// The sysbench script of the order-shaped transaction.
    pub order_tx_lua: PathBuf,
    /// `mysql://user:password@host:port` (no database).
    pub mysql_url: String,
    /// `redis://host:port`.
    pub redis_url: String,
    /// `amqp://...` of the order service's own broker user (`TEST_AMQP_ORDER_URL`), or of the
    /// administrator (`TEST_AMQP_URL`) when the broker has no such user.
    pub order_amqp_url: String,
    /// See `order_amqp_url`.
    pub product_amqp_url: String,
    /// `dev` or `release`: how the services were built (for the report).
    pub profile: String,
    /// Distinguishes this run's databases, queues and keys from earlier runs'.
    pub run_id: String,
    /// The run's key pair (every service start trusts it) and the tokens signed with it.
    pub tokens: Tokens,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the harness through `make bench` (deploy/bench/run.sh)")
    })
}

impl Env {
    /// Reads `BENCH_BIN_DIR`, `BENCH_OUT_DIR`, `BENCH_ORDER_TX_LUA`, `BENCH_PROFILE` and the
    /// `TEST_*_URL`s, and makes the run's key pair.
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Self {
            bin_dir: var("BENCH_BIN_DIR")?.into(),
            out_dir: var("BENCH_OUT_DIR")?.into(),
            order_tx_lua: var("BENCH_ORDER_TX_LUA")?.into(),
            mysql_url: var("TEST_MYSQL_URL")?,
            redis_url: var("TEST_REDIS_URL")?,
            order_amqp_url: var("TEST_AMQP_ORDER_URL").or_else(|_| var("TEST_AMQP_URL"))?,
            product_amqp_url: var("TEST_AMQP_PRODUCT_URL").or_else(|_| var("TEST_AMQP_URL"))?,
            profile: std::env::var("BENCH_PROFILE").unwrap_or_else(|_| "unknown".to_owned()),
            run_id: format!("{:06x}", rand::random::<u32>() & 0xff_ffff),
            tokens: Tokens::generate()?,
        };
        std::fs::create_dir_all(env.out_dir.join("logs"))
            .with_context(|| format!("cannot create {}", env.out_dir.display()))?;
        Ok(env)
    }

    /// The path of binary `name`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// The log file of `name`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.out_dir.join("logs").join(format!("{name}.log"))
    }

    /// A database name private to this run.
    pub fn database(&self, what: &str) -> String {
        format!("bench_{}_{what}", self.run_id)
    }

    /// `host:port` and credentials of the MySQL URL, for sysbench.
    pub fn mysql_parts(&self) -> anyhow::Result<MysqlParts> {
        MysqlParts::parse(&self.mysql_url)
    }
}

/// The pieces of `mysql://user:password@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlParts {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl MysqlParts {
    fn parse(url: &str) -> anyhow::Result<Self> {
        let invalid = || format!("not a mysql://user:password@host:port URL: {url}");
        let rest = url.strip_prefix("mysql://").with_context(invalid)?;
        let (auth, addr) = rest.split_once('@').with_context(invalid)?;
        let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
        let addr = addr.trim_end_matches('/');
        let (host, port) = addr.rsplit_once(':').unwrap_or((addr, "3306"));
        Ok(Self {
            user: user.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port: port.parse().ok().with_context(invalid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_url_is_split_for_sysbench() {
        let p = MysqlParts::parse("mysql://app:app@127.0.0.1:13306").unwrap();
        assert_eq!((p.user.as_str(), p.password.as_str()), ("app", "app"));
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 13306));
        assert!(MysqlParts::parse("redis://x").is_err());
    }

    #[test]
    fn smoke_is_short() {
        let plan = Plan::for_mode(Mode::Smoke).unwrap();
        assert!(plan.read_secs <= Duration::from_secs(2));
        assert!(plan.seed_orders <= 10_000);
    }
}
