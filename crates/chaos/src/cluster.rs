//! The system under test: service processes (started, killed, paused, supervised) and the
//! servers `deploy/local-infra/infra.sh` runs (stopped, restarted, paused).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::tokens::Tokens;

/// Where everything lives, read from the environment `make chaos` prepares.
#[derive(Debug, Clone)]
pub struct Env {
    /// Directory holding the `order-service` and `product-service` binaries.
    pub bin_dir: PathBuf,
    /// Service logs go here, one file per service instance.
    pub log_dir: PathBuf,
    /// `deploy/local-infra/infra.sh`.
    pub infra_script: PathBuf,
    /// `$INFRA_DIR` of the servers (pid files under `state/`).
    pub infra_dir: PathBuf,
    /// `mysql://user:password@host:port` (no database).
    pub mysql_url: String,
    /// `redis://host:port`.
    pub redis_url: String,
    /// `amqp://...`.
    pub amqp_url: String,
    /// The services' own broker users (`TEST_AMQP_ORDER_URL`, `TEST_AMQP_PRODUCT_URL`), when
    /// the broker has them; `amqp_url` otherwise.
    pub order_amqp_url: String,
    /// See `order_amqp_url`.
    pub product_amqp_url: String,
    /// Distinguishes this run's databases, queues and keys from earlier runs'.
    pub run_id: String,
    /// The run's key pair (every service start trusts it) and its tokens.
    pub tokens: Tokens,
}

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run the harness through `make chaos` (deploy/chaos/run.sh)")
    })
}

impl Env {
    /// Reads `CHAOS_BIN_DIR`, `CHAOS_LOG_DIR`, `INFRA_SCRIPT`, `INFRA_DIR` and the
    /// `TEST_*_URL`s, and makes the run's key pair.
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Self {
            bin_dir: var("CHAOS_BIN_DIR")?.into(),
            log_dir: var("CHAOS_LOG_DIR")?.into(),
            infra_script: var("INFRA_SCRIPT")?.into(),
            infra_dir: var("INFRA_DIR")?.into(),
            mysql_url: var("TEST_MYSQL_URL")?,
            redis_url: var("TEST_REDIS_URL")?,
            amqp_url: var("TEST_AMQP_URL")?,
            order_amqp_url: var("TEST_AMQP_ORDER_URL").or_else(|_| var("TEST_AMQP_URL"))?,
            product_amqp_url: var("TEST_AMQP_PRODUCT_URL").or_else(|_| var("TEST_AMQP_URL"))?,
            run_id: uuid::Uuid::new_v4().simple().to_string()[..6].to_owned(),
            tokens: Tokens::generate()?,
        };
        for bin in ["order-service", "product-service"] {
            let path = env.bin_dir.join(bin);
            if !path.is_file() {
                bail!(
                    "{} is missing: build it with the fault-points feature first",
                    path.display()
                );
            }
        }
        std::fs::create_dir_all(&env.log_dir)
            .with_context(|| format!("cannot create {}", env.log_dir.display()))?;
        Ok(env)
    }

    /// Runs `infra.sh ARGS...` and fails loudly when it does.
    pub async fn infra(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = Command::new(&self.infra_script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.infra_script.display()))?;
        if !output.status.success() {
            bail!(
                "infra.sh {} failed ({}):\n{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`...) to the server `infra.sh` started as `name`
    /// (`redis`, `rabbitmq`, `mysql`).
    pub async fn signal_server(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        let pid_file = self.infra_dir.join("state").join(format!("{name}.pid"));
        let pid = std::fs::read_to_string(&pid_file).with_context(|| {
            format!(
                "no pid file {}: the {name} server must be one infra.sh started",
                pid_file.display()
            )
        })?;
        send_signal(pid.trim().parse().context("a pid")?, signal).await
    }
}

/// `kill -SIGNAL pid`.
pub async fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
}

/// A free loopback port (bound, then released for the service to take).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// Which binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `order-service`
    Order,
    /// `product-service`
    Product,
}

impl Role {
    fn binary(self) -> &'static str {
        match self {
            Role::Order => "order-service",
            Role::Product => "product-service",
        }
    }
}

/// One service instance: a process that can be started again after it died or was killed,
/// always on the same port with the same settings.
#[derive(Debug)]
pub struct Service {
    /// e.g. `order-1`.
    pub name: String,
    /// Its HTTP port.
    pub port: u16,
    bin: PathBuf,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl Service {
    /// A service instance (not started).
    pub fn new(
        env: &Env,
        name: &str,
        role: Role,
        port: u16,
        settings: Vec<(String, String)>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            port,
            bin: env.bin_dir.join(role.binary()),
            log: env.log_dir.join(format!("{name}.log")),
            env: settings,
            child: None,
            starts: 0,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets (or replaces) an environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Removes an environment variable for the next start.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts the process and waits until `/health/ready` answers 200.
    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.name);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        self.child = Some(child);
        self.starts += 1;
        let ready = format!("{}/health/ready", self.url());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "{} exited during startup ({status}); last lines of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 20)
                );
            }
            if let Ok(reply) = http.get(&ready).send().await
                && reply.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill().await;
                bail!(
                    "{} not ready after 60 s; see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and reap it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().ok();
            child.wait().await.ok();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the running process.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .with_context(|| format!("{} is not running", self.name))?;
        send_signal(pid, signal).await
    }

    /// Whether the process has exited (and reaps it: a dead child is no zombie).
    fn has_exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| !matches!(child.try_wait(), Ok(None)))
    }

    /// Resolves when the process exits on its own.
    async fn exited(&mut self) {
        match self.child.as_mut() {
            Some(child) => {
                child.wait().await.ok();
            }
            None => std::future::pending().await,
        }
    }
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What a supervisor did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Restarts {
    /// The process died on its own (a fault point fired) and was started again.
    pub crashes: u32,
    /// The supervisor sent SIGKILL and started it again.
    pub kills: u32,
}

/// A service under a supervisor that starts it again whenever it dies, and optionally
/// SIGKILLs it at random intervals.
#[derive(Debug)]
pub struct Supervised {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<(Service, Restarts)>>,
}

impl Supervised {
    /// Supervises a started `service`.
    pub fn new(
        mut service: Service,
        http: reqwest::Client,
        kill_every: Option<Range<Duration>>,
    ) -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut restarts = Restarts::default();
            let next_kill = || {
                tokio::time::Instant::now()
                    + kill_every
                        .clone()
                        .map(|range| rand::rng().random_range(range))
                        .unwrap_or(Duration::from_secs(24 * 3600))
            };
            // The kill timer runs on its own: crashes at fault points do not postpone it.
            let mut kill_at = next_kill();
            loop {
                enum Event {
                    Stop,
                    Died,
                    KillTime,
                }
                let event = tokio::select! {
                    _ = token.cancelled() => Event::Stop,
                    _ = service.exited() => Event::Died,
                    _ = tokio::time::sleep_until(kill_at) => Event::KillTime,
                };
                match event {
                    // Hand the service back running: it may have died just now.
                    Event::Stop if !service.has_exited() => break,
                    Event::Stop => {
                        service.child = None;
                        restarts.crashes += 1;
                    }
                    Event::Died => {
                        service.child = None;
                        restarts.crashes += 1;
                    }
                    Event::KillTime => {
                        service.kill().await;
                        restarts.kills += 1;
                        kill_at = next_kill();
                    }
                }
                // A start can itself hit a fault point (the relay publishes the backlog at
                // once): try again a few times.
                let mut attempt = 0;
                while let Err(e) = service.start(&http).await {
                    attempt += 1;
                    restarts.crashes += 1;
                    if attempt >= 5 {
                        return Err(e.context(format!("{} does not come back", service.name)));
                    }
                }
            }
            Ok((service, restarts))
        });
        Self { stop, task }
    }

    /// Stops supervising and hands the (running) service back.
    pub async fn finish(self) -> anyhow::Result<(Service, Restarts)> {
        self.stop.cancel();
        self.task.await.context("the supervisor panicked")?
    }
}
