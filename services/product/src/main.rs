//! `product-service [serve|migrate|openapi|healthcheck]`

use adapters::runtime::cli::ServiceBinary;
use product_service::{Settings, distributed};
use utoipa::OpenApi;

struct Binary;

impl ServiceBinary for Binary {
    const NAME: &'static str = "product-service";
    type Settings = Settings;

    fn load() -> anyhow::Result<Settings> {
        Settings::load()
    }

    fn port(settings: &Settings) -> u16 {
        settings.http.port
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        product_service::openapi::ApiDoc::openapi()
    }

    async fn serve(settings: Settings) -> anyhow::Result<()> {
        distributed::start(settings)
            .await?
            .run_until_stopped(adapters::runtime::shutdown_signal())
            .await
    }

    async fn migrate(settings: Settings) -> anyhow::Result<()> {
        distributed::migrate(&settings).await
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    adapters::runtime::cli::main::<Binary>().await
}
