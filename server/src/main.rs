//! `heartline-server`: serves the built chat app and its WebSocket endpoints.

use heartline_server::{run, ServerConfig};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    heartline_server::budget::return_large_allocations();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "heartline_server=info".into()),
        )
        .init();
    let config = match ServerConfig::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        // Usage errors exit with 2 and the usage; --help and --version print and exit 0.
        Err(error) => error.exit(),
    };
    match run(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("heartline-server: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
