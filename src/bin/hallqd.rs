//! hallqd: the hall controller daemon.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use hallq::config::Config;

/// Queue controller daemon of a public service hall.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The hall's configuration file.
    #[arg(short, long, default_value = "/etc/hallq/hall.toml", env = "HALLQ_CONFIG")]
    config: PathBuf,
    /// Listen here instead of `api.listen` (port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Use this database file instead of `store.database`.
    #[arg(long)]
    database: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = Config::load(&args.config)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the configuration has problems; `hallqctl check-config FILE` lists them")?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = args.database {
        config.database = d;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .context("starting the runtime")?;
    rt.block_on(hallq::daemon::run(
        config,
        |addr| {
            // Tests and scripts read this line to find the port.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "hallqd listening on http://{addr}");
            let _ = out.flush();
        },
        hallq::daemon::signals(),
    ))?;
    // A request to the centre may still be running on the blocking pool: do not
    // wait for its timeout to exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    Ok(())
}
