//! The D-Bus half of the systemd driver: calls to systemd's manager
//! (org.freedesktop.systemd1(5)) over the system bus with zbus's blocking API, and the bounded
//! waits for the jobs they queue.
//!
//! zbus runs a background thread per connection. berth forks its container processes before it
//! connects (process/mod.rs places stage 1 in the scope after the fork), so no fork ever
//! happens in a process with that thread.

use std::path::Path;
use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use super::{PropValue, Property, SystemdUnit};
use crate::cgroups::CgroupError;

const DESTINATION: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
const JOB: &str = "org.freedesktop.systemd1.Job";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
/// How long a start or stop job may take (runc waits 30 s too). Under qemu TCG a scope
/// starts in tens of milliseconds; a job still running after this is reported, not awaited.
pub(crate) const JOB_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// The system bus address zbus connects to: `DBUS_SYSTEM_BUS_ADDRESS`, else the standard
/// socket (D-Bus specification, "Well-known Message Bus Instances").
pub(crate) fn system_bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|_| DEFAULT_SYSTEM_BUS.to_string())
}

/// Checks, without connecting, that the system bus socket exists: `create` calls it before it
/// makes anything, so a host without systemd and D-Bus is refused up front.
pub(crate) fn check_bus() -> Result<(), CgroupError> {
    let address = system_bus_address();
    if let Some(path) = address
        .strip_prefix("unix:path=")
        .map(|p| p.split(',').next().unwrap_or(p))
    {
        if !Path::new(path).exists() {
            return Err(CgroupError::NoBus {
                address,
                reason: "the socket does not exist",
            });
        }
    }
    Ok(())
}

/// A connection to systemd's manager.
pub(crate) struct Systemd {
    conn: Connection,
}

impl Systemd {
    pub(crate) fn connect() -> Result<Systemd, CgroupError> {
        let conn = Connection::system().map_err(|source| CgroupError::Bus {
            address: system_bus_address(),
            source: Box::new(source),
        })?;
        Ok(Systemd { conn })
    }

    /// StartTransientUnit(`unit`, "fail", properties) for a scope holding the pid given in
    /// `props`, then waits (bounded) until the job is done and the scope is active. "fail": a
    /// unit of that name that already exists is an error, never replaced.
    pub(crate) fn start_scope(
        &self,
        unit: &SystemdUnit,
        props: &[Property],
    ) -> Result<(), CgroupError> {
        let op = || format!("StartTransientUnit {}", unit.unit);
        let props = to_values(props);
        let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
        let reply = self
            .manager(
                "StartTransientUnit",
                &(unit.unit.as_str(), "fail", props, aux),
            )
            .map_err(|e| call_error(op(), e))?;
        let job: OwnedObjectPath = reply
            .body()
            .deserialize()
            .map_err(|e| call_error(op(), e))?;
        self.wait_job(&job, &unit.unit)?;
        match self.active_state(&unit.unit)? {
            Some(state) if state == "active" => Ok(()),
            state => Err(CgroupError::UnitState {
                unit: unit.unit.clone(),
                state: state.unwrap_or_else(|| "not loaded".into()),
                expected: "active",
            }),
        }
    }

    /// SetUnitProperties(`unit`, runtime, properties): systemd applies them to the scope's
    /// cgroup at once and keeps them for as long as the unit lives (`runtime`: not persisted).
    pub(crate) fn set_properties(
        &self,
        unit: &SystemdUnit,
        props: &[Property],
    ) -> Result<(), CgroupError> {
        if props.is_empty() {
            return Ok(());
        }
        self.manager(
            "SetUnitProperties",
            &(unit.unit.as_str(), true, to_values(props)),
        )
        .map_err(|e| call_error(format!("SetUnitProperties {}", unit.unit), e))?;
        Ok(())
    }

    /// StopUnit(`unit`, "replace"), ResetFailedUnit if it ended failed, and waits (bounded)
    /// until its cgroup `dir` is removed. A unit already gone (the container's last process
    /// exited, so systemd stopped the scope itself) is not an error: delete is idempotent.
    pub(crate) fn stop_scope(&self, unit: &SystemdUnit, dir: &Path) -> Result<(), CgroupError> {
        let op = || format!("StopUnit {}", unit.unit);
        match self.manager("StopUnit", &(unit.unit.as_str(), "replace")) {
            Ok(reply) => {
                let job: OwnedObjectPath = reply
                    .body()
                    .deserialize()
                    .map_err(|e| call_error(op(), e))?;
                self.wait_job(&job, &unit.unit)?;
            }
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(call_error(op(), e)),
        }
        if self.active_state(&unit.unit)?.as_deref() == Some("failed") {
            // A failed unit stays loaded (and listed) until its failure is reset.
            let _ = self.manager("ResetFailedUnit", &(unit.unit.as_str(),));
        }
        let deadline = Instant::now() + JOB_TIMEOUT;
        while dir.exists() {
            if Instant::now() > deadline {
                return Err(CgroupError::UnitTimeout {
                    unit: unit.unit.clone(),
                    what: "remove the scope's cgroup",
                    secs: JOB_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn manager<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DESTINATION), MANAGER_PATH, Some(MANAGER), method, body)
    }

    /// Polls the job object until systemd drops it (the job finished, whatever its result).
    /// Polling rather than the JobRemoved signal: no subscription to set up or race with, and
    /// the wait is bounded the same way.
    fn wait_job(&self, job: &OwnedObjectPath, unit: &str) -> Result<(), CgroupError> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            let state = self.conn.call_method(
                Some(DESTINATION),
                job.as_str(),
                Some(PROPERTIES),
                "Get",
                &(JOB, "State"),
            );
            if state.is_err() {
                return Ok(()); // org.freedesktop.DBus.Error.UnknownObject: the job is done
            }
            if Instant::now() > deadline {
                return Err(CgroupError::UnitTimeout {
                    unit: unit.to_string(),
                    what: "finish its job",
                    secs: JOB_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The unit's ActiveState, `None` when systemd has no such unit loaded.
    pub(crate) fn active_state(&self, unit: &str) -> Result<Option<String>, CgroupError> {
        let op = || format!("GetUnit {unit}");
        let path: OwnedObjectPath = match self.manager("GetUnit", &(unit,)) {
            Ok(reply) => reply
                .body()
                .deserialize()
                .map_err(|e| call_error(op(), e))?,
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(None)
            }
            Err(e) => return Err(call_error(op(), e)),
        };
        let op = || format!("read ActiveState of {unit}");
        let reply = self
            .conn
            .call_method(
                Some(DESTINATION),
                path.as_str(),
                Some(PROPERTIES),
                "Get",
                &(UNIT, "ActiveState"),
            )
            .map_err(|e| call_error(op(), e))?;
        let value: OwnedValue = reply
            .body()
            .deserialize()
            .map_err(|e| call_error(op(), e))?;
        let state = String::try_from(value).map_err(|e| call_error(op(), e))?;
        Ok(Some(state))
    }
}

fn to_values(props: &[Property]) -> Vec<(&'static str, Value<'static>)> {
    props
        .iter()
        .map(|(name, v)| {
            let value = match v {
                PropValue::Bool(b) => Value::from(*b),
                PropValue::Str(s) => Value::from(s.clone()),
                PropValue::U64(n) => Value::from(*n),
                PropValue::U32s(v) => Value::from(v.clone()),
                PropValue::Bytes(v) => Value::from(v.clone()),
            };
            (*name, value)
        })
        .collect()
}

fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

fn call_error(op: String, e: impl Into<zbus::Error>) -> CgroupError {
    CgroupError::SystemdCall {
        op,
        source: Box::new(e.into()),
    }
}
