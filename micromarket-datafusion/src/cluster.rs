//! Where the counting plan runs: a DataFusion session of this process, or a Ballista cluster (a
//! scheduler already running, or one started in this process with its executors). Ballista's
//! client, scheduler and executors all get micromarket's [`Codec`].

use crate::codec::Codec;
use crate::count::{Ballista, EngineOptions};
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::extension::SessionStateExt;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};
use micromarket::Error;
use std::sync::Arc;
use std::time::Duration;

/// The largest plan or result message exchanged with a cluster: a plan carries the boundary
/// files (tens of megabytes for every county of a country).
pub const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// The session the counting plan runs in.
///
/// # Errors
///
/// [`Error::Engine`] when the cluster cannot be reached or started.
pub async fn context(options: &EngineOptions) -> Result<SessionContext, Error> {
    let partitions = options.partitions.max(1);
    let runtime = runtime(options).map_err(|e| options.error(e))?;
    let Some(cluster) = &options.ballista else {
        return Ok(SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(partitions),
            runtime,
        ));
    };
    let state = SessionStateBuilder::new_from_existing(ballista_state(partitions))
        .with_runtime_env(runtime)
        .build();
    match cluster {
        Ballista::Remote(url) => SessionContext::remote_with_state(url, state).await,
        Ballista::Standalone(executors) => standalone(state, partitions, *executors).await,
    }
    .map_err(|e| options.error(e))
}

/// The runtime of this process's plans: with [`EngineOptions::memory_limit`], a pool of that
/// many bytes shared fairly by the operators that spill (aggregations), so they spill to disk
/// beyond it.
fn runtime(options: &EngineOptions) -> Result<Arc<RuntimeEnv>> {
    let builder = RuntimeEnvBuilder::new();
    match options.memory_limit {
        Some(bytes) => builder.with_memory_pool(Arc::new(FairSpillPool::new(bytes))),
        None => builder,
    }
    .build_arc()
}

/// A session state for Ballista with micromarket's codec, for a client or a standalone cluster.
pub fn ballista_state(partitions: usize) -> SessionState {
    SessionStateBuilder::new()
        .with_config(ballista_config().with_target_partitions(partitions))
        .with_default_features()
        .build()
}

/// Ballista's configuration with micromarket's codec and message size.
pub fn ballista_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_physical_extension_codec(Arc::new(Codec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_BYTES)
}

/// A Ballista cluster in this process (a scheduler and `executors` executors sharing
/// `partitions` task slots), and a client session of it.
async fn standalone(
    state: SessionState,
    partitions: usize,
    executors: usize,
) -> Result<SessionContext> {
    let external = |e: ballista_core::error::BallistaError| DataFusionError::External(Box::new(e));
    let address = ballista_scheduler::standalone::new_standalone_scheduler_from_state(&state)
        .await
        .map_err(external)?;
    let url = format!("http://localhost:{}", address.port());
    let mut attempts = 0;
    let scheduler = loop {
        match SchedulerGrpcClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(e) if attempts == 100 => return Err(DataFusionError::External(Box::new(e))),
            Err(_) => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let executors = executors.max(1);
    let slots = partitions.div_ceil(executors);
    for _ in 0..executors {
        ballista_executor::new_standalone_executor_from_state(scheduler.clone(), slots, &state)
            .await
            .map_err(external)?;
    }
    Ok(SessionContext::new_with_state(
        state.upgrade_for_ballista(url)?,
    ))
}

/// Where a cluster process listens and finds its peers.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The address to listen on (a scheduler's gRPC; an executor's Flight service, its gRPC
    /// service on the next port).
    pub bind: std::net::SocketAddr,
    /// The host other processes reach this one at (default: the bind address's).
    pub external_host: Option<String>,
}

/// Runs a Ballista scheduler that knows micromarket's plan nodes and functions, until the
/// process ends.
///
/// # Errors
///
/// [`Error::Engine`] when it cannot start.
pub async fn run_scheduler(options: ProcessOptions) -> Result<(), Error> {
    let error = |e: ballista_core::error::BallistaError| Error::Engine {
        engine: "ballista",
        message: e.to_string(),
    };
    let config = ballista_scheduler::config::SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .unwrap_or_else(|| options.bind.ip().to_string()),
        grpc_server_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(Codec::default())),
        override_config_producer: Some(Arc::new(ballista_config)),
        ..Default::default()
    };
    let cluster = ballista_scheduler::cluster::BallistaCluster::new_from_config(&config)
        .await
        .map_err(error)?;
    ballista_scheduler::scheduler_process::start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(error)
}

/// Runs a Ballista executor that knows micromarket's plan nodes and functions, registered with
/// the scheduler at `scheduler` (`HOST:PORT`) with `slots` task slots, until the process ends.
///
/// # Errors
///
/// [`Error::Engine`] when it cannot start or reach the scheduler.
pub async fn run_executor(
    options: ProcessOptions,
    scheduler: (String, u16),
    slots: usize,
    work_dir: Option<String>,
    memory_limit: Option<usize>,
) -> Result<(), Error> {
    let config = ballista_executor::executor_process::ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: options.external_host,
        port: options.bind.port(),
        grpc_port: options.bind.port().wrapping_add(1),
        scheduler_host: scheduler.0,
        scheduler_port: scheduler.1,
        scheduler_connect_timeout_seconds: 30,
        vcores: slots.max(1),
        work_dir,
        memory_pool_size: memory_limit.map(|bytes| bytes as u64),
        grpc_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
        override_logical_codec: Some(Arc::new(Codec::default())),
        override_physical_codec: Some(Arc::new(Codec::default())),
        override_config_producer: Some(Arc::new(ballista_config)),
        ..Default::default()
    };
    ballista_executor::executor_process::start_executor_process(Arc::new(config))
        .await
        .map_err(|e| Error::Engine {
            engine: "ballista",
            message: e.to_string(),
        })
}
