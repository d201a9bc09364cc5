//! `standalone`: the order and product APIs in one process, no servers to install.

use standalone::{Settings, Standalone, settings::USAGE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = Settings::load()?;
    if !settings.apply_args(std::env::args().skip(1))? {
        println!("{USAGE}");
        return Ok(());
    }
    // Quiet by default, so the banner below stays readable; RUST_LOG=info shows everything.
    let telemetry =
        adapters::runtime::telemetry::init_with_filter("standalone", "warn,standalone=info");
    let system = Standalone::build(settings).await?;
    let host = "127.0.0.1";
    let data = match system.data_dir() {
        Some(dir) => dir.display().to_string(),
        None => "in memory (forgotten on exit)".to_owned(),
    };
    println!(
        "\nOrder and inventory system (standalone)\n\
         \n  order API    http://{host}:{o}   Swagger UI: http://{host}:{o}/swagger-ui/\
         \n  product API  http://{host}:{p}   Swagger UI: http://{host}:{p}/swagger-ui/\
         \n  data         {data}\
         \n\nPress Ctrl-C to stop.\n",
        o = system.order_port(),
        p = system.product_port(),
    );
    system
        .run_until_stopped(adapters::runtime::shutdown_signal())
        .await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    println!("stopped cleanly");
    Ok(())
}
