//! The listener: binds, serves `Sys`, gRPC health and reflection, and shuts down
//! gracefully (stop accepting, finish in-flight requests, close the storage).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic_health::ServingStatus;
use vault_core::Vault;

use crate::forward::Forwarder;
use crate::health;
use vault_proto::v1::logical_server::LogicalServer;
use vault_proto::v1::sys_server::SysServer;

use crate::config::{Limits, Telemetry, TlsFiles};
use crate::dispatch::Dispatcher;
use crate::logical::LogicalService;
use crate::seal_calls::SealCalls;
use crate::sys::SysService;

/// How long in-flight requests get to finish after SIGTERM before the remaining
/// connections are dropped: a client that never closes its connection must not
/// keep the daemon (and its storage) open.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Where the daemon listens and what it serves there besides the APIs.
#[derive(Debug)]
pub struct Serving {
    /// The bound listeners: the main address and `http_address`.
    pub listeners: Vec<TcpListener>,
    /// The certificate and key, unless plaintext.
    pub tls: Option<TlsFiles>,
    /// The operator UI at `/ui/`.
    pub ui: bool,
}

/// Serves `vault` as `serving` says until `shutdown` resolves, then finishes in-flight
/// requests (for at most [`SHUTDOWN_GRACE`]) and closes the storage.
pub async fn run(
    vault: Arc<Vault>,
    serving: Serving,
    forward: Forwarder,
    limits: Limits,
    telemetry: Telemetry,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let forward = Arc::new(forward);
    let ha = forward.ha().cloned();
    let (health, health_service) = tonic_health::server::health_reporter();
    health::report(&vault, ha.as_deref(), &health).await;
    health::spawn_watch(Arc::clone(&vault), ha.clone(), health.clone());
    // The HA loop: competes for the active lock once unsealed; on shutdown
    // it steps down and releases the lock (after the listener has drained).
    let (stop_ha, ha_stopped) = tokio::sync::oneshot::channel::<()>();
    let ha_task = ha.clone().map(|ha| {
        tokio::spawn(async move {
            ha.run(async {
                let _ = ha_stopped.await;
            })
            .await;
        })
    });
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(vault_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let certificate = serving
        .tls
        .as_ref()
        .map(crate::tls::Certificate::load)
        .transpose()?
        .map(Arc::new);
    let (stop_expiring, expiring_stopped) = tokio::sync::oneshot::channel::<()>();
    let expiration = {
        let vault = Arc::clone(&vault);
        tokio::spawn(async move {
            vault
                .run_expiration(async {
                    let _ = expiring_stopped.await;
                })
                .await;
        })
    };
    let (stop_periodic, periodic_stopped) = tokio::sync::oneshot::channel::<()>();
    let periodic = {
        let vault = Arc::clone(&vault);
        tokio::spawn(async move {
            vault
                .run_periodic(async {
                    let _ = periodic_stopped.await;
                })
                .await;
        })
    };
    spawn_reopen_on_hangup(Arc::clone(&vault), certificate.clone());
    spawn_audit_health(Arc::clone(&vault), health.clone());
    // One dispatcher; the gRPC services and the HTTP API are its adapters.
    let dispatch = Arc::new(Dispatcher::new(
        Arc::clone(&vault),
        Arc::clone(&forward),
        limits,
        &telemetry.span_export,
    ));
    let seal = Arc::new(SealCalls::new(
        Arc::clone(&vault),
        health,
        forward.ha().cloned(),
    ));
    let sys = Arc::new(SysService::new(Arc::clone(&seal), Arc::clone(&dispatch)));
    let logical = Arc::new(LogicalService::new(Arc::clone(&dispatch), limits.json));
    // One listener for both APIs: `/v1/...` is Vault's HTTP API (HTTP/1.1 or
    // HTTP/2), every other path a gRPC service.
    let metrics = Arc::new(crate::process_metrics::ProcessMetrics::new(
        Arc::clone(&vault),
        ha.clone(),
        telemetry.unauthenticated_metrics,
    ));
    let api = Arc::new(crate::http::Api {
        dispatch,
        seal,
        metrics,
        json: limits.json,
    });
    let routes = tonic::service::Routes::from(crate::http::router(api, serving.ui))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(InterceptedService::new(
            SysServer::from_arc(sys).max_decoding_message_size(limits.max_request_size),
            refuse_wrapping,
        ))
        .add_service(
            LogicalServer::from_arc(logical).max_decoding_message_size(limits.max_request_size),
        );
    // Every request, HTTP or gRPC, admitted before its body is read (a place
    // in flight, a body budget), then run on a task of its own: a caller
    // that hangs up cannot cut a state change short.
    let admission = Arc::new(crate::admission::Admission::new(
        Arc::clone(&vault),
        limits,
        ha.is_some(),
    ));
    let routes = tonic::service::Routes::from(
        routes
            .into_axum_router()
            .layer(axum::middleware::from_fn_with_state(
                limits.max_request_duration,
                crate::run_to_end::run_to_end,
            ))
            .layer(axum::middleware::from_fn_with_state(
                admission,
                crate::admission::admit,
            )),
    );
    // Every listener serves the same routes; one stop signal for all.
    let (stop_accepting, stop) = tokio::sync::watch::channel(false);
    let mut serving_tasks = tokio::task::JoinSet::new();
    for listener in serving.listeners {
        let mut stop = stop.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        serving_tasks.spawn(crate::serve::serve(
            routes.clone(),
            crate::accept::incoming(listener, certificate.clone(), &limits),
            limits,
            stopped,
        ));
    }
    let drain = async {
        while let Some(served) = serving_tasks.join_next().await {
            served.context("the listener task failed")?;
        }
        anyhow::Ok(())
    };
    tokio::pin!(drain);
    tokio::select! {
        served = &mut drain => served?,
        () = shutdown => {
            let _ = stop_accepting.send(true);
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut drain).await {
                Ok(served) => served?,
                Err(_) => tracing::warn!(
                    grace = ?SHUTDOWN_GRACE,
                    "connections still open after the grace period; closing them"
                ),
            }
        }
    }

    // Revocations in flight finish (each bounded by its engine's timeout)
    // before the storage closes under them.
    let _ = stop_expiring.send(());
    let _ = stop_periodic.send(());
    if let Err(e) = expiration.await {
        tracing::warn!(error = %e, "the lease expiration loop failed");
    }
    if let Err(e) = periodic.await {
        tracing::warn!(error = %e, "the periodic work loop failed");
    }
    let _ = stop_ha.send(());
    if let Some(task) = ha_task
        && let Err(e) = task.await
    {
        tracing::warn!(error = %e, "the HA loop failed");
    }
    tracing::info!("listener closed; flushing storage");
    vault.close().await.context("closing the storage")?;
    Ok(())
}

/// The name under which the health service reports the audit devices.
pub const AUDIT_HEALTH: &str = "vault.audit";
/// The name under which it reports a serving node that is not degraded (the
/// reasons are in `status`).
pub const NOT_DEGRADED_HEALTH: &str = "vault.not_degraded";

/// Reports on the health service, once a second: `vault.audit` SERVING when
/// every running device is healthy, NOT_SERVING when one failed or hung (the
/// requests may still be served by the others; `audit list` says which);
/// `vault.not_degraded` SERVING while the node serves with nothing wrong
/// (`Vault::degraded`), NOT_SERVING otherwise.
fn spawn_audit_health(vault: Arc<Vault>, health: tonic_health::server::HealthReporter) {
    let status = |up: bool| {
        if up {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last = None;
        loop {
            tick.tick().await;
            let audit_healthy = vault.audit_status().iter().all(|d| d.healthy);
            let well = !vault.barrier().is_sealed() && vault.degraded().await.is_empty();
            if last != Some((audit_healthy, well)) {
                health
                    .set_service_status(AUDIT_HEALTH, status(audit_healthy))
                    .await;
                health
                    .set_service_status(NOT_DEGRADED_HEALTH, status(well))
                    .await;
                last = Some((audit_healthy, well));
            }
        }
    });
}

/// SIGHUP reopens the audit files (after a log rotation moved them) and
/// reads the TLS certificate and key again (after a renewal replaced them).
fn spawn_reopen_on_hangup(vault: Arc<Vault>, certificate: Option<Arc<crate::tls::Certificate>>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::info!("SIGHUP received; reopening audit files");
                    vault.audit_reopen();
                    if let Some(certificate) = &certificate {
                        match certificate.reload() {
                            Ok(()) => tracing::info!("TLS certificate reloaded"),
                            Err(e) => tracing::error!(
                                error = format!("{e:#}"),
                                "reloading the TLS certificate failed; the one in use stays"
                            ),
                        }
                    }
                }
            });
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; audit files will not be reopened on it")
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT will stop the daemon");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
    }
}

/// The `Sys` service answers in messages of its own, which have no place for
/// `wrap_info`: a call asking for its answer wrapped is refused rather than
/// answered in the clear (or wrapped and the token lost).
fn refuse_wrapping(request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if request
        .metadata()
        .contains_key(vault_proto::WRAP_TTL_METADATA_KEY)
    {
        return Err(tonic::Status::invalid_argument(
            "response wrapping (x-vault-wrap-ttl) is not available on the Sys service: \
             its answers cannot carry wrap_info",
        ));
    }
    Ok(request)
}
