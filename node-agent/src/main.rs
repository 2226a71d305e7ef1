//! `twill-agent`: the Twill node daemon (speaker, RIB task, FIB writer,
//! local API, metrics). See `docs/operations.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use node_agent::agent::{Agent, Options, ReconfigureError};
use node_agent::config::{self, LogFormat, LogLevel};
use node_agent::k8s;
use node_agent::metrics::Metrics;

/// The Twill BGP agent.
#[derive(Debug, Parser)]
#[command(name = "twill-agent", version, about)]
struct Args {
    /// Configuration file (YAML).
    #[arg(short, long, default_value = "/etc/twill/twill-agent.yaml")]
    config: PathBuf,
    /// Check the configuration, print every problem, and exit.
    #[arg(long)]
    check_config: bool,
    /// Log format (overrides the file's `logging.format`).
    #[arg(long, value_enum)]
    log_format: Option<Format>,
    /// Log level (overrides `logging.level`; `RUST_LOG` overrides both).
    #[arg(long)]
    log_level: Option<String>,
    /// Remove Twill's kernel routes on exit (by default they stay, so that
    /// a restart does not blackhole traffic).
    #[arg(long)]
    remove_routes_on_exit: bool,
    /// After a restart, wait at most this long (seconds) for the peers'
    /// End-of-RIB before selecting routes (RFC 4724 §4.1).
    #[arg(long, default_value_t = 120)]
    selection_deferral: u16,
    // --- Kubernetes mode (node_agent::k8s) ---
    /// Kubernetes mode: the configuration comes from the cluster
    /// (BGPConfiguration, BGPPeers, Nodes, Services), not from `--config`;
    /// this node's name from `NODE_NAME`.
    #[arg(long)]
    kubernetes: bool,
    /// Kubernetes mode: a kubeconfig file (default: `KUBECONFIG`,
    /// `~/.kube/config`, then the in-cluster service account).
    #[arg(long, requires = "kubernetes")]
    kubeconfig: Option<PathBuf>,
    /// Kubernetes mode: serve `/metrics`, `/healthz` and `/readyz` here.
    #[arg(long, requires = "kubernetes")]
    metrics_address: Option<std::net::SocketAddr>,
    /// Kubernetes mode: the local API's socket (default
    /// `/run/twill/twill-agent.sock`).
    #[arg(long, requires = "kubernetes")]
    api_socket: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

fn level_name(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn init_logging(args: &Args, file: &config::Logging) {
    let level = args
        .log_level
        .clone()
        .unwrap_or_else(|| level_name(file.level).to_string());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match args.log_format {
        Some(Format::Json) => true,
        Some(Format::Human) => false,
        None => file.format == LogFormat::Json,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    node_agent::malloc::tune();
    let args = Args::parse();
    if args.kubernetes {
        return kubernetes_main(args);
    }
    let config = match config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!(
                "twill-agent: {} is not a valid configuration:\n{errors}",
                args.config.display()
            );
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("{}: configuration OK", args.config.display());
        return ExitCode::SUCCESS;
    }
    init_logging(&args, &config.config().logging);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("twill-agent")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args, config, None)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("twill-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP: apply the file's new contents, only the difference; an invalid
/// file changes nothing.
async fn reload(args: &Args, agent: &mut Agent) {
    let new = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            warn!("SIGHUP: new configuration refused, the running one stays:\n{e}");
            return;
        }
    };
    match agent.reconfigure(new).await {
        Ok(change) if change.is_empty() => info!("SIGHUP: configuration unchanged"),
        Ok(change) => info!(?change, "SIGHUP: configuration applied"),
        Err(ReconfigureError::NeedsRestart(change)) => warn!(
            reset = ?change.reset_all,
            listen = change.listen,
            fib = change.fib,
            "SIGHUP: this change needs a restart of twill-agent (the running configuration stays)"
        ),
        Err(e) => warn!("SIGHUP: {e}"),
    }
}

async fn run(
    args: Args,
    config: config::ValidConfig,
    cluster: Option<k8s::mode::Cluster>,
) -> Result<(), String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let api_config = config.config().api.clone();
    let metrics_addr = config.config().metrics.address;
    let options = Options {
        remove_routes_on_exit: args.remove_routes_on_exit,
        selection_deferral: args.selection_deferral,
        ..Options::default()
    };
    let metrics = Metrics::new();
    let mut agent = Agent::start(config, options, metrics.clone())
        .await
        .map_err(|e| e.to_string())?;
    info!(listening = ?agent.listening, "twill-agent started");
    let mut desired = cluster.as_ref().map(|c| {
        c.spawn_status(agent.api.clone());
        c.configs()
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let api = node_agent::api::serve(
        &api_config,
        agent.api.clone(),
        agent.events.clone(),
        stopped(stop_rx.clone()),
    )
    .await
    .map_err(|e| format!("API: {e}"))?;
    let metrics_server = match metrics_addr {
        Some(addr) => Some(
            node_agent::metrics::serve_metrics(
                addr,
                metrics,
                agent.ready.clone(),
                stopped(stop_rx.clone()),
            )
            .await
            .map_err(|e| format!("metrics on {addr}: {e}"))?,
        ),
        None => None,
    };
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM"); break }
            _ = int.recv() => { info!("SIGINT"); break }
            _ = hup.recv() => {
                if desired.is_some() {
                    info!("SIGHUP: ignored in Kubernetes mode (the configuration comes from the cluster)");
                } else {
                    reload(&args, &mut agent).await;
                }
            }
            new = k8s::mode::next_config(&mut desired) => {
                if !apply_desired(&mut agent, new).await {
                    break;
                }
            }
        }
    }
    agent.stop().await;
    let _ = stop_tx.send(true);
    let _ = api.join().await;
    if let Some(m) = metrics_server {
        let _ = m.join().await;
    }
    Ok(())
}

// --- Kubernetes mode (node_agent::k8s) ---

/// `--kubernetes`: the first configuration from the cluster, then the
/// usual run, applying each new desired configuration.
fn kubernetes_main(args: Args) -> ExitCode {
    init_logging(&args, &config::Logging::default());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("twill-agent")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut local = k8s::LocalSettings {
        metrics: config::Metrics {
            address: args.metrics_address,
        },
        ..k8s::LocalSettings::default()
    };
    if let Some(socket) = &args.api_socket {
        local.api.socket = socket.clone();
    }
    let result = rt.block_on(async {
        let cluster = k8s::mode::start_from_env(args.kubeconfig.as_deref(), local)
            .await
            .map_err(|e| e.to_string())?;
        let first = cluster.configs().borrow().clone();
        let config = config::validate(first).map_err(|e| e.to_string())?;
        info!(node = %cluster.node_name, "configuration from the cluster");
        run(args, config, Some(cluster)).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("twill-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Applies a desired configuration from the cluster; false when the agent
/// must stop (a change that resets every session: the DaemonSet restarts
/// the pod, which starts with the new configuration).
async fn apply_desired(agent: &mut Agent, new: config::Config) -> bool {
    match k8s::mode::apply(agent, new).await {
        k8s::mode::Applied::Changed(change) if change.is_empty() => true,
        k8s::mode::Applied::Changed(change) => {
            info!(?change, "configuration from the cluster applied");
            true
        }
        k8s::mode::Applied::Invalid(e) => {
            warn!("configuration from the cluster refused, the running one stays:\n{e}");
            true
        }
        k8s::mode::Applied::NeedsRestart(change) => {
            warn!(
                reset = ?change.reset_all,
                listen = change.listen,
                fib = change.fib,
                "the cluster changed what needs a restart; exiting for the DaemonSet to restart us"
            );
            false
        }
        k8s::mode::Applied::Stopped => false,
    }
}
