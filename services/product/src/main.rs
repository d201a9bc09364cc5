//! `product-service [serve|migrate|openapi|healthcheck]`

use anyhow::Context;
use product_service::{Application, Settings};
use utoipa::OpenApi;

const USAGE: &str = "usage: product-service [serve|migrate|openapi|healthcheck]
  serve        run the service (default)
  migrate      apply database migrations and exit
  openapi      print the OpenAPI document
  healthcheck  exit 0 when the local instance's /health answers 200";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    match command.as_str() {
        "serve" => {
            adapters::telemetry::init("product-service");
            let settings = Settings::load()?;
            let app = Application::build(settings).await?;
            app.run_until_stopped(adapters::runtime::shutdown_signal())
                .await
        }
        "migrate" => {
            adapters::telemetry::init("product-service");
            let settings = Settings::load()?;
            if settings.database.create_if_missing {
                adapters::db::ensure_database(&settings.database.url).await?;
            }
            let conn = adapters::db::connect(&settings.database.options()).await?;
            adapters::db::migrate_products(&conn).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        "openapi" => {
            let doc = product_service::openapi::ApiDoc::openapi()
                .to_pretty_json()
                .context("failed to render the OpenAPI document")?;
            println!("{doc}");
            Ok(())
        }
        "healthcheck" => {
            let settings = Settings::load()?;
            adapters::http::health::probe_local(settings.http.port).await
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => anyhow::bail!("unknown command `{other}`\n{USAGE}"),
    }
}
