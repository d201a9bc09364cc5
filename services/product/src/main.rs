//! `product-service [serve|migrate|openapi|healthcheck]`

use adapters::cli::ServiceBinary;
use adapters::db::ProductMigrator;
use product_service::{Settings, build};
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
        build(settings)
            .await?
            .run_until_stopped(adapters::runtime::shutdown_signal())
            .await
    }

    async fn migrate(settings: Settings) -> anyhow::Result<()> {
        adapters::wiring::open_database::<ProductMigrator>(&settings.database)
            .await
            .map(drop)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    adapters::cli::main::<Binary>().await
}
