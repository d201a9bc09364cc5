//! The command line both service binaries share:
//! `<service> [serve|migrate|openapi|healthcheck]`.

use std::future::Future;

use anyhow::Context;

/// What a service binary provides to [`main`].
pub trait ServiceBinary {
    /// Binary name, as in logs and usage.
    const NAME: &'static str;
    /// The service's settings.
    type Settings;
    /// Loads the settings (defaults, file, environment).
    fn load() -> anyhow::Result<Self::Settings>;
    /// The HTTP port the settings name.
    fn port(settings: &Self::Settings) -> u16;
    /// The OpenAPI document.
    fn openapi() -> utoipa::openapi::OpenApi;
    /// Runs the service until SIGINT or SIGTERM.
    fn serve(settings: Self::Settings) -> impl Future<Output = anyhow::Result<()>>;
    /// Applies the database migrations.
    fn migrate(settings: Self::Settings) -> impl Future<Output = anyhow::Result<()>>;
}

fn usage(name: &str) -> String {
    format!(
        "usage: {name} [serve|migrate|openapi|healthcheck]
  serve        run the service (default)
  migrate      apply database migrations and exit
  openapi      print the OpenAPI document
  healthcheck  exit 0 when the local instance's /health answers 200"
    )
}

/// Dispatches on the first argument.
pub async fn main<B: ServiceBinary>() -> anyhow::Result<()> {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    match command.as_str() {
        "serve" => {
            let telemetry = super::telemetry::init(B::NAME);
            crate::fault::init()?;
            let served = B::serve(B::load()?).await;
            // The last spans (the shutdown's among them) leave before the process does.
            tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
            served
        }
        "migrate" => {
            let _telemetry = super::telemetry::init(B::NAME);
            B::migrate(B::load()?).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        "openapi" => {
            let doc = B::openapi()
                .to_pretty_json()
                .context("failed to render the OpenAPI document")?;
            println!("{doc}");
            Ok(())
        }
        "healthcheck" => crate::http::health::probe_local(B::port(&B::load()?)).await,
        "-h" | "--help" | "help" => {
            println!("{}", usage(B::NAME));
            Ok(())
        }
        other => anyhow::bail!("unknown command `{other}`\n{}", usage(B::NAME)),
    }
}
