//! `standalone`: the order and product APIs in one process, no servers to install.
//! `standalone token --sub NAME --role customer|admin` prints a bearer token for it.

use standalone::tokens::{self, TokenRequest};
use standalone::{Settings, Standalone, settings::USAGE};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("token") {
        return print_token(args.split_off(1));
    }
    let mut settings = Settings::load()?;
    if !settings.apply_args(args)? {
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
         \n  data         {data}\n{auth}\
         \nPress Ctrl-C to stop.\n",
        o = system.order_port(),
        p = system.product_port(),
        auth = auth_banner(&system)?,
    );
    system
        .run_until_stopped(adapters::runtime::shutdown_signal())
        .await?;
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
    println!("stopped cleanly");
    Ok(())
}

/// How to get a token, for the banner.
fn auth_banner(system: &Standalone) -> anyhow::Result<String> {
    let Some(issuer) = system.issuer() else {
        return Ok(
            "\n  auth         bearer tokens from the identity provider in [auth]\n".to_owned(),
        );
    };
    if system.data_dir().is_some() {
        return Ok("\n  auth         every order call needs a bearer token; get one with\
                   \n                 cargo run -q -p standalone -- token --sub alice --role customer\
                   \n                 (--role admin for products, stock, shipping and operations)\
                   \n               and send it as `Authorization: Bearer <token>` (Swagger UI: Authorize)\n"
            .to_owned());
    }
    // In memory the key dies with the process: hand out tokens now.
    let now = chrono::Utc::now();
    let ttl = chrono::Duration::hours(tokens::DEFAULT_TTL_HOURS);
    let customer = issuer.issue("alice", domain::Role::Customer, now, ttl)?;
    let admin = issuer.issue("admin", domain::Role::Admin, now, ttl)?;
    Ok(format!(
        "\n  auth         bearer tokens for this run (the key lives in memory):\
         \n    customer alice: {customer}\
         \n    admin:          {admin}\n"
    ))
}

/// `standalone token`: a token signed with the key in the data directory (made if missing).
fn print_token(args: Vec<String>) -> anyhow::Result<()> {
    let (request, rest) = TokenRequest::parse(args)?;
    let mut settings = Settings::load()?;
    settings.apply_args(rest)?;
    if settings.in_memory {
        anyhow::bail!("an in-memory system prints its tokens at start-up");
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let issuer = tokens::own_issuer(&mut settings.auth, Some(&settings.data_dir))?
        .ok_or_else(|| anyhow::anyhow!("[auth] names an identity provider: get tokens there"))?;
    let token = issuer.issue(
        &request.subject,
        request.role,
        chrono::Utc::now(),
        request.ttl,
    )?;
    println!("{token}");
    Ok(())
}
