//! `berth events`: resource usage in runc's shape (`{"type":"stats","id":..,"data":{..}}`),
//! once with `--stats` or every `--interval`, plus `{"type":"oom","id":..}` whenever the
//! kernel OOM-kills a process of the container. Streaming ends when the container stops.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use berth_runtime::container::{self, StatsEvent, Status};
use berth_runtime::state::{ContainerId, Store};

pub fn run(store: &Store, id: &str, once: bool, interval: &str) -> anyhow::Result<()> {
    let interval = parse_duration(interval)?;
    let ctx = || format!("events of container {id:?}");
    let emit = |event: &StatsEvent| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(event)?)?;
        out.flush()?;
        Ok(())
    };
    let stats_event = || -> anyhow::Result<StatsEvent> {
        Ok(StatsEvent {
            kind: "stats",
            id: id.to_string(),
            data: Some(container::stats(store, id).with_context(ctx)?),
        })
    };
    if once {
        return emit(&stats_event()?);
    }
    let cid = ContainerId::new(id)?;
    let state = store.read(&cid).with_context(ctx)?;
    // A container without a cgroup has neither stats nor OOM events: refused even once stopped.
    let mut oom = container::cgroup_of(&state)
        .with_context(ctx)?
        .oom_watch()
        .with_context(ctx)?;
    let mut next = Instant::now();
    loop {
        let alive = store
            .read(&cid)
            .map(|s| container::status(&s) != Status::Stopped)
            .unwrap_or(false);
        if !alive {
            return Ok(());
        }
        if Instant::now() >= next {
            emit(&stats_event()?)?;
            next += interval;
        }
        // Wake at the next stats time, or sooner for an OOM (and at least every second to
        // notice that the container stopped).
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        let ooms = oom.wait(wait);
        for _ in 0..ooms {
            emit(&StatsEvent {
                kind: "oom",
                id: id.to_string(),
                data: None,
            })?;
        }
    }
}

/// `5s`, `500ms`, `1m`, or plain seconds.
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("invalid --interval {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("invalid --interval {s:?}: unit must be ms, s or m"),
    };
    if secs <= 0.0 {
        bail!("invalid --interval {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(
            super::parse_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(super::parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(super::parse_duration("0s").is_err());
        assert!(super::parse_duration("5h").is_err());
    }
}
