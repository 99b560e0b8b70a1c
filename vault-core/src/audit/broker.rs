//! The audit broker: the enabled devices, and the fan-out of each entry to all of
//! them in parallel, fail-closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinSet;

use super::device::{ChainState, Device, DeviceConfig, Sink, Wait};
use super::entry::Hasher;
use super::file::FileSink;
use super::request_entries::Record;
use super::sinks::{SocketSink, StdoutSink};
use super::{ApiAuditPolicy, AuditError, DEFAULT_TIMEOUT};
use crate::clock;
use crate::secret::{Key256, constant_time_eq};

/// What `audit list` shows of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    /// Name, type and options.
    pub config: DeviceConfig,
    /// False after a failed or timed-out write, until a write succeeds.
    pub healthy: bool,
    /// The last sequence number written.
    pub seq: u64,
    /// The hash of the last entry written.
    pub last_hash: String,
    /// Writes that failed since the device started.
    pub failures: u64,
    /// Writes not answered in time since the device started.
    pub timeouts: u64,
    /// What went wrong last (a failed write or a timeout), kept after the
    /// device recovers; `None` if nothing has since it started.
    pub last_error: Option<String>,
}

/// How a device came to be enabled, which decides what its file may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Declared by the embedder (vaultd's config): the operator chose the path.
    Declared,
    /// Being enabled through the API now: its file must be new.
    ApiNew,
    /// Enabled through the API before (started again at unseal): its file is
    /// its own log, or new.
    Api,
}

/// The enabled devices.
#[derive(Debug)]
pub struct AuditBroker {
    // std RwLock: held only to clone or change the list, never across an await.
    devices: RwLock<Vec<Arc<Device>>>,
    // How many devices are enabled, running or not: while it is not zero, a
    // request needs a running device to record it.
    expected: AtomicUsize,
    timeout: Duration,
    api_policy: ApiAuditPolicy,
}

impl Default for AuditBroker {
    fn default() -> Self {
        AuditBroker {
            devices: RwLock::new(Vec::new()),
            expected: AtomicUsize::new(0),
            timeout: DEFAULT_TIMEOUT,
            api_policy: ApiAuditPolicy::default(),
        }
    }
}

impl AuditBroker {
    /// Sets what the API may enable (before the vault is shared).
    pub(crate) fn set_api_policy(&mut self, policy: ApiAuditPolicy) {
        self.api_policy = policy;
    }

    /// What the API may enable.
    pub(crate) fn api_policy(&self) -> &ApiAuditPolicy {
        &self.api_policy
    }

    /// Starts a device of `config`'s type with its HMAC `key`, continuing from
    /// `resume` when its sink cannot tell where its chain stands.
    pub(crate) fn start(
        &self,
        config: DeviceConfig,
        key: &Key256,
        resume: Option<ChainState>,
        origin: Origin,
    ) -> Result<Option<String>, AuditError> {
        let fail = |reason: String| AuditError::Device {
            name: config.name.clone(),
            reason,
        };
        let option = |k: &str| config.options.get(k).cloned();
        let sink: Box<dyn Sink> = match config.kind.as_str() {
            "file" => {
                let path = option("file_path")
                    .ok_or_else(|| fail("the file_path option is required".into()))?;
                let taken = self.all_status().into_iter().any(|s| {
                    s.config.kind == "file" && s.config.options.get("file_path") == Some(&path)
                });
                if taken {
                    return Err(fail(format!(
                        "{path} is already written by another audit device"
                    )));
                }
                match origin {
                    Origin::Declared => Box::new(FileSink::new(&path)),
                    Origin::ApiNew | Origin::Api => Box::new(
                        FileSink::confined(
                            std::path::Path::new(&path),
                            self.api_policy.file_dir.as_deref(),
                            origin == Origin::ApiNew,
                        )
                        .map_err(|e| fail(e.to_string()))?,
                    ),
                }
            }
            "stdout" => Box::new(StdoutSink),
            "socket" => {
                let address = option("address")
                    .ok_or_else(|| fail("the address option is required".into()))?;
                let unix = match option("socket_type").as_deref() {
                    None | Some("tcp") => false,
                    Some("unix") => true,
                    Some(other) => {
                        return Err(fail(format!("socket_type {other:?} is not tcp or unix")));
                    }
                };
                Box::new(SocketSink::new(address, unix, self.timeout))
            }
            other => {
                return Err(fail(format!(
                    "unknown audit device type {other:?} (file, stdout, socket)"
                )));
            }
        };
        if self.status(&config.name).is_some() {
            return Err(fail("a device with this name is already enabled".into()));
        }
        let hasher = Hasher::new(key).map_err(|e| fail(e.to_string()))?;
        let (device, first_error) =
            Device::start(config.clone(), hasher, sink, resume).map_err(fail)?;
        if let Ok(mut devices) = self.devices.write() {
            devices.push(Arc::new(device));
        }
        Ok(first_error)
    }

    /// Stops the device called `name` (with a closing checkpoint); returns where
    /// its chain ended.
    pub(crate) async fn stop(&self, name: &str) -> Option<ChainState> {
        let device = {
            let mut devices = self.devices.write().ok()?;
            let index = devices.iter().position(|d| d.config.name == name)?;
            devices.remove(index)
        };
        Some(device.close(self.timeout).await)
    }

    /// Stops every device (a seal or a clean shutdown); returns where each chain
    /// ended.
    pub(crate) async fn stop_all(&self) -> Vec<(String, ChainState)> {
        let devices: Vec<Arc<Device>> = self
            .devices
            .write()
            .map(|mut d| d.drain(..).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for device in devices {
            out.push((device.config.name.clone(), device.close(self.timeout).await));
        }
        out
    }

    /// Records how many devices are enabled (whether or not they run).
    pub(crate) fn expect_devices(&self, count: usize) {
        self.expected.store(count, Ordering::Release);
    }

    /// True when at least one device is enabled: requests must then be audited.
    pub fn is_active(&self) -> bool {
        self.devices.read().map(|d| !d.is_empty()).unwrap_or(true)
    }

    /// Reopens every device's file before its next write (SIGHUP, log rotation).
    pub fn reopen_all(&self) {
        for device in self.snapshot() {
            device.request_reopen();
        }
    }

    fn snapshot(&self) -> Vec<Arc<Device>> {
        self.devices.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Records `record` on every device in parallel, each as far as `wait`
    /// asks; succeeds when at least one did (or none is enabled). A device
    /// that fails or times out is reported and marked unhealthy; the others
    /// are not held up by it.
    ///
    /// The entry is written only when a device will take it: with none
    /// enabled, building it was about 15% of the CPU time of a cached read.
    pub(crate) async fn log(&self, wait: Wait, record: &Record<'_>) -> Result<(), AuditError> {
        let devices = self.snapshot();
        if devices.is_empty() {
            if self.expected.load(Ordering::Acquire) > 0 {
                return Err(AuditError::Unavailable(
                    "no enabled audit device is running".into(),
                ));
            }
            return Ok(());
        }
        let time = clock::rfc3339(clock::now_unix());
        if let [device] = devices.as_slice() {
            // One device, the usual case: waited on here, with no task.
            let name = &device.config.name;
            let answer = device
                .enqueue(record.body(&device.hasher, &time), wait)
                .map_err(|reason| AuditError::Unavailable(format!("{name}: {reason}")))?;
            return device.wait(answer, self.timeout).await.map_err(|reason| {
                tracing::warn!(device = %name, %reason, "audit device did not record an entry");
                AuditError::Unavailable(format!("{name}: {reason}"))
            });
        }
        // Every device gets the entry. Healthy ones are waited on (in parallel,
        // each at most the timeout); unhealthy ones are waited on only if no
        // healthy one recorded it, so a hung device delays nobody once it is known
        // to hang, and a recovered one is noticed by itself.
        let mut healthy = JoinSet::new();
        let mut unhealthy = Vec::new();
        let mut failures = Vec::new();
        for device in devices {
            match device.enqueue(record.body(&device.hasher, &time), wait) {
                Ok(answer) if device.is_healthy() => {
                    let timeout = self.timeout;
                    healthy.spawn(async move {
                        let result = device.wait(answer, timeout).await;
                        (device.config.name.clone(), result)
                    });
                }
                Ok(answer) => unhealthy.push((device, answer)),
                Err(reason) => failures.push(format!("{}: {reason}", device.config.name)),
            }
        }
        let mut recorded = 0;
        while let Some(done) = healthy.join_next().await {
            match done {
                Ok((_, Ok(()))) => recorded += 1,
                Ok((name, Err(reason))) => {
                    tracing::warn!(device = %name, %reason, "audit device did not record an entry");
                    failures.push(format!("{name}: {reason}"));
                }
                Err(e) => failures.push(format!("device task failed: {e}")),
            }
        }
        if recorded == 0 && !unhealthy.is_empty() {
            // All at once, the first to record wins; the rest are dropped.
            let mut waits = JoinSet::new();
            for (device, answer) in unhealthy {
                let timeout = self.timeout;
                waits.spawn(async move {
                    let result = device.wait(answer, timeout).await;
                    (device.config.name.clone(), result)
                });
            }
            while let Some(done) = waits.join_next().await {
                match done {
                    Ok((_, Ok(()))) => {
                        recorded += 1;
                        break;
                    }
                    Ok((name, Err(reason))) => failures.push(format!("{name}: {reason}")),
                    Err(e) => failures.push(format!("device task failed: {e}")),
                }
            }
        }
        if recorded == 0 {
            return Err(AuditError::Unavailable(failures.join("; ")));
        }
        Ok(())
    }

    /// The status of the device called `name`.
    pub fn status(&self, name: &str) -> Option<DeviceStatus> {
        self.all_status()
            .into_iter()
            .find(|s| s.config.name == name)
    }

    /// Every device's status.
    pub fn all_status(&self) -> Vec<DeviceStatus> {
        self.snapshot()
            .iter()
            .map(|d| {
                let chain = d.chain();
                let (failures, timeouts) = d.failure_totals();
                DeviceStatus {
                    config: d.config.clone(),
                    healthy: d.is_healthy(),
                    seq: chain.seq,
                    last_hash: chain.last_hash,
                    failures,
                    timeouts,
                    last_error: d.last_error(),
                }
            })
            .collect()
    }

    /// `hmac-sha256:<hex>` of `input` under the key of device `name` (never a
    /// checkpoint signature: those use a key of their own).
    pub fn hash(&self, name: &str, input: &str) -> Option<String> {
        let device = self
            .snapshot()
            .into_iter()
            .find(|d| d.config.name == name)?;
        Some(device.hasher.hash(input))
    }

    /// Whether `signature` is device `name`'s signature of the checkpoint at `seq`
    /// after `prev_hash`.
    pub fn verify_checkpoint(
        &self,
        name: &str,
        seq: u64,
        prev_hash: &str,
        signature: &str,
    ) -> Option<bool> {
        let device = self
            .snapshot()
            .into_iter()
            .find(|d| d.config.name == name)?;
        let expected = device.hasher.sign_checkpoint(seq, prev_hash);
        Some(constant_time_eq(expected.as_bytes(), signature.as_bytes()))
    }
}
