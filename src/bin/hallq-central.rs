//! hallq-central: the city's central server for the halls, and its
//! administration commands (register halls, issue and revoke their tokens,
//! publish configuration bundles).
//!
//! Storage: `--db sqlite:PATH` (the default, zero set-up) or
//! `--db postgres:CONNINFO` / `--db postgresql://…` for production.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use hallq::central::store::{CentralStore, DbUrl};
use hallq::central::{self, new_token, token_hash, valid_hall_id};
use hallq::domain::ConfigBundle;

/// Central server of the halls: event ingest, configuration bundles, reports.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Where the data lives: sqlite:PATH or postgres:CONNINFO.
    #[arg(long, env = "HALLQ_CENTRAL_DB", default_value = "sqlite:hallq-central.db")]
    db: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the halls and the centre's readers.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7500")]
        listen: SocketAddr,
        /// PEM certificate chain: serve HTTPS (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Mutual TLS: PEM file of the CA(s) that issue the halls' client
        /// certificates; clients without one are refused (tokens still apply).
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<PathBuf>,
    },
    /// Register halls and manage their tokens.
    Hall {
        #[command(subcommand)]
        cmd: HallCmd,
    },
    /// Administrators (reports, bundles, reading events).
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Configuration bundles for the halls.
    Bundle {
        #[command(subcommand)]
        cmd: BundleCmd,
    },
}

#[derive(Subcommand)]
enum HallCmd {
    /// Register a hall and issue its token (shown once; only its hash is kept).
    Add {
        id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// The hall's time zone, for reports by local day.
        #[arg(long, default_value = "Asia/Shanghai")]
        tz: String,
        /// Write the token to this file (mode 600) instead of printing it.
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
    /// Issue another token for a registered hall (e.g. after a revoke).
    Token {
        id: String,
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
    /// Revoke every token of a hall: its requests are refused from now on.
    Revoke { id: String },
    /// List the halls with their high-water marks.
    List,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Issue an administrator's token.
    Add {
        name: String,
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BundleCmd {
    /// Publish a bundle; parts left out stay as the halls have them.
    Publish {
        /// Only for this hall (default: every hall).
        #[arg(long)]
        hall: Option<String>,
        /// Catalogue TOML (the format of config/catalog.toml).
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Working-day calendar TOML, one per year (repeat the option).
        #[arg(long)]
        calendar: Vec<PathBuf>,
        /// Notices for the hall display, one per line.
        #[arg(long)]
        notices: Option<PathBuf>,
        /// Staff numbers (工号) allowed to log in, one per line.
        #[arg(long)]
        staff: Option<PathBuf>,
    },
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn lines(path: &Path) -> anyhow::Result<Vec<String>> {
    Ok(read(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Hand a new token to the operator: into a private file, or on stdout.
fn give_token(token: &str, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(f, "{token}")?;
            println!("token written to {}", path.display());
        }
        None => println!("{token}"),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let url: DbUrl = args.db.parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run(url, args.cmd))
}

async fn run(url: DbUrl, cmd: Cmd) -> anyhow::Result<()> {
    let store = CentralStore::open(&url)
        .await
        .context("opening the centre's database")?;
    match cmd {
        Cmd::Serve {
            listen,
            tls_cert,
            tls_key,
            client_ca,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => Some(central::tls::acceptor(&c, &k, client_ca.as_deref())?),
                _ => None,
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(addr = %central::url(addr, tls.is_some()), store = store.kind(), "centre listening");
            // Tests and scripts read this line to find the port.
            let mut out = std::io::stdout();
            writeln!(
                out,
                "hallq-central listening on {}",
                central::url(addr, tls.is_some())
            )?;
            out.flush()?;
            central::serve(listener, tls, store, hallq::daemon::signals()).await?;
            tracing::info!("centre stopped");
        }
        Cmd::Hall { cmd } => match cmd {
            HallCmd::Add {
                id,
                name,
                tz,
                token_out,
            } => {
                if !valid_hall_id(&id) {
                    bail!("hall id `{id}`: use letters, digits, '-' or '_' (as in the hall's [hall] id)");
                }
                if tz.parse::<chrono_tz::Tz>().is_err() {
                    bail!("--tz `{tz}` is not an IANA time zone such as Asia/Shanghai");
                }
                let token = new_token();
                let name = if name.is_empty() { id.clone() } else { name };
                store.add_hall(&id, &name, &tz, &token_hash(&token)).await?;
                eprintln!("hall {id} registered; give it this token (shown once):");
                give_token(&token, token_out.as_deref())?;
            }
            HallCmd::Token { id, token_out } => {
                let token = new_token();
                store.add_hall_token(&id, &token_hash(&token)).await?;
                eprintln!("new token for hall {id} (shown once):");
                give_token(&token, token_out.as_deref())?;
            }
            HallCmd::Revoke { id } => {
                let n = store.revoke_hall(&id).await?;
                println!("hall {id}: {n} token(s) revoked");
            }
            HallCmd::List => {
                for h in store.halls().await? {
                    let last = h
                        .last_batch_ms
                        .and_then(chrono::DateTime::from_timestamp_millis)
                        .map_or("never".to_string(), |t| t.to_rfc3339());
                    println!(
                        "{}\t{}\t{}\thigh-water {}\tlast batch {last}\t{} active token(s)",
                        h.id, h.name, h.tz, h.high_water, h.active_tokens
                    );
                }
            }
        },
        Cmd::Admin {
            cmd: AdminCmd::Add { name, token_out },
        } => {
            let token = new_token();
            store.add_admin(&name, &token_hash(&token)).await?;
            eprintln!("administrator {name} added; token (shown once):");
            give_token(&token, token_out.as_deref())?;
        }
        Cmd::Bundle {
            cmd:
                BundleCmd::Publish {
                    hall,
                    catalog,
                    calendar,
                    notices,
                    staff,
                },
        } => {
            let bundle = ConfigBundle {
                version: 0,
                catalog: catalog.as_deref().map(read).transpose()?,
                calendars: if calendar.is_empty() {
                    None
                } else {
                    Some(calendar.iter().map(|p| read(p)).collect::<Result<_, _>>()?)
                },
                notices: notices.as_deref().map(lines).transpose()?,
                staff: staff.as_deref().map(lines).transpose()?,
            };
            central::check_bundle(&bundle).map_err(|e| anyhow::anyhow!("bad bundle: {e}"))?;
            let v = store.publish_bundle(hall.as_deref(), &bundle).await?;
            println!(
                "bundle {v} published for {}",
                hall.as_deref().unwrap_or("every hall")
            );
        }
    }
    Ok(())
}
