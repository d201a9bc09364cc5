//! The processes under test: started with their settings in the environment, waited for until
//! ready, measured (`/proc/<pid>/status`) and stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A free loopback port (bound, then released for a service to take).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// Resident memory of a process, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the peak resident size so far.
    pub hwm_kb: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    Ok(parse_status(&status))
}

fn parse_status(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
    }
}

/// One running service process.
#[derive(Debug)]
pub struct Service {
    /// e.g. `order-service`.
    pub name: String,
    /// Where its output goes.
    pub log: PathBuf,
    child: Child,
}

impl Service {
    /// Starts `bin args...` with `env` added to the environment, logging to `log`.
    pub fn start(
        name: &str,
        bin: &Path,
        args: &[&str],
        env: &[(String, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        if !bin.is_file() {
            bail!("{} is missing: build it first", bin.display());
        }
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            name: name.to_owned(),
            log,
            child,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .with_context(|| format!("{} has exited", self.name))
    }

    /// Its memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid()?)
    }

    /// Waits until `GET ready_url` answers `200`, failing when the process exits or after a
    /// minute.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        ready_url: &str,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited during startup ({status}); see {}",
                    self.name,
                    self.log.display()
                );
            }
            if let Ok(reply) = http.get(ready_url).send().await
                && reply.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after 60 s; see {}",
                    self.name,
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL when it has not exited after 15 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// Runs `program args...` to completion and returns its standard output; fails with its
/// standard error when it exits non-zero.
pub async fn run_tool(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run {program}: is it installed?"))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kb() {
        let status = "Name:\tx\nVmHWM:\t   30720 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(
            parse_status(status),
            Memory {
                rss_kb: 20480,
                hwm_kb: 30720
            }
        );
    }

    #[test]
    fn own_memory_is_readable() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
    }
}
