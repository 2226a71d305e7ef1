//! Runs one command: asks the API, prints the answer.

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use node_agent::api::model::{
    ActionBody, ActionDone, Event, FibRoute, Neighbor, Route, Status, API_VERSION,
};

use crate::cli::{Cli, Command, NeighborCommand, RibCommand, RibFilter};
use crate::client::{decode, Client, ClientError, Endpoint};
use crate::format;

/// Usage errors: exit code 2, as clap's own.
const USAGE: u8 = 2;

/// The `twillctl` process: parse, run, exit with the documented code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("twillctl: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("twillctl: {message}");
            ExitCode::from(USAGE)
        }
        Err(Failure::Client(error)) => {
            eprintln!("twillctl: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

#[derive(Debug)]
enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure::Client(error)
    }
}

/// Writes to standard output; false when it is closed (`twillctl rib |
/// head`), which is not an error worth a word.
fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).is_ok() && out.flush().is_ok()
}

/// The raw answer, pretty-printed.
fn print_json(path: &str, body: &[u8]) -> Result<(), Failure> {
    let value: serde_json::Value = decode(path, body)?;
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    print(&format!("{text}\n"));
    Ok(())
}

fn address(text: &str) -> Result<IpAddr, Failure> {
    text.parse()
        .map_err(|_| Failure::Usage(format!("not an IP address: {text:?}")))
}

/// Percent-encoding of a query value (prefixes have only `/`, `:`, `.`
/// and hex digits; anything else is encoded too).
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'.' | b':' | b'-' | b'_' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rib_path(base: &str, filter: &RibFilter) -> String {
    let mut query = Vec::new();
    if let Some(family) = filter.family {
        let family = match node_agent::api::model::AddressFamily::from(family) {
            node_agent::api::model::AddressFamily::Ipv4 => "ipv4",
            node_agent::api::model::AddressFamily::Ipv6 => "ipv6",
        };
        query.push(format!("family={family}"));
    }
    if let Some(prefix) = &filter.prefix {
        query.push(format!("prefix={}", query_value(prefix)));
    }
    if filter.explain {
        query.push("explain=true".to_string());
    }
    if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let endpoint = match &cli.url {
        Some(url) => Endpoint::from_url(url).map_err(Failure::Usage)?,
        None => Endpoint::Unix(cli.socket.clone()),
    };
    let client = Client::new(endpoint);
    let json = cli.json;
    match cli.command {
        Command::Status => {
            let body = client.get_raw("/v1/status").await?;
            if json {
                return print_json("/v1/status", &body);
            }
            let status: Status = decode("/v1/status", &body)?;
            print(&format::status(&status));
        }
        Command::Neighbors => {
            let body = client.get_raw("/v1/neighbors").await?;
            if json {
                return print_json("/v1/neighbors", &body);
            }
            let neighbors: Vec<Neighbor> = decode("/v1/neighbors", &body)?;
            print(&format::neighbors(&neighbors));
        }
        Command::Neighbor(args) => {
            let neighbor = address(&args.address)?;
            match args.action {
                None => {
                    let path = format!("/v1/neighbors/{neighbor}");
                    let body = client.get_raw(&path).await?;
                    if json {
                        return print_json(&path, &body);
                    }
                    let detail: Neighbor = decode(&path, &body)?;
                    print(&format::neighbor(&detail));
                }
                Some(action) => {
                    let (name, message) = match action {
                        NeighborCommand::Reset { message } => ("reset", message),
                        NeighborCommand::Refresh => ("refresh", None),
                        NeighborCommand::Shutdown { message } => ("shutdown", message),
                        NeighborCommand::Start => ("start", None),
                    };
                    let path = format!("/v1/neighbors/{neighbor}/{name}");
                    let request = serde_json::to_string(&ActionBody { message })
                        .unwrap_or_else(|_| "{}".to_string());
                    let body = client.post_raw(&path, request).await?;
                    if json {
                        return print_json(&path, &body);
                    }
                    let done: ActionDone = decode(&path, &body)?;
                    print(&format::action(&done));
                }
            }
        }
        Command::Rib(args) => {
            let (path, filter) = match &args.which {
                None => (rib_path("/v1/rib", &args.filter), &args.filter),
                Some(RibCommand::In { neighbor, filter }) => {
                    let neighbor = address(neighbor)?;
                    (rib_path(&format!("/v1/rib/in/{neighbor}"), filter), filter)
                }
                Some(RibCommand::Out { neighbor, filter }) => {
                    let neighbor = address(neighbor)?;
                    (rib_path(&format!("/v1/rib/out/{neighbor}"), filter), filter)
                }
            };
            let body = client.get_raw(&path).await?;
            if json {
                return print_json(&path, &body);
            }
            let routes: Vec<Route> = decode(&path, &body)?;
            print(&format::routes(&routes, filter.explain));
        }
        Command::Fib => {
            let body = client.get_raw("/v1/fib").await?;
            if json {
                return print_json("/v1/fib", &body);
            }
            let routes: Vec<FibRoute> = decode("/v1/fib", &body)?;
            print(&format::fib(&routes));
        }
        Command::Watch => {
            client
                .watch(|line| {
                    // Stops when standard output is closed.
                    if json {
                        // One object a line, as the API sends them.
                        return print(&format!("{line}\n"));
                    }
                    match serde_json::from_str::<Event>(line) {
                        Ok(event) => print(&format!("{}\n", format::event(&event))),
                        Err(_) => print(&format!("{line}\n")),
                    }
                })
                .await?;
        }
        Command::Version => {
            let ours = env!("CARGO_PKG_VERSION");
            let agent = client.get::<Status>("/v1/status").await;
            if json {
                let value = serde_json::json!({
                    "twillctl": ours,
                    "api_version": API_VERSION,
                    "agent": agent.as_ref().ok().map(|s| &s.version),
                    "agent_api_version": agent.as_ref().ok().map(|s| s.api_version),
                });
                print(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                ));
                return Ok(());
            }
            let mut text = format!("twillctl {ours} (API v{API_VERSION})\n");
            match agent {
                Ok(status) => text.push_str(&format!(
                    "twill-agent {} (API v{})\n",
                    status.version, status.api_version
                )),
                Err(error) => text.push_str(&format!("twill-agent: {error}\n")),
            }
            print(&text);
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "twillctl", &mut out);
            print(&String::from_utf8_lossy(&out));
        }
    }
    Ok(())
}
