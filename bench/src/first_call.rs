//! The first call of a newly dropped component: the file is copied into a new
//! plugins folder, then `PluginHost::load` (read, digest, compile or read the
//! compiled code from the cache, `describe()`) and one `run` call are timed,
//! once with an empty compile cache (cold) and once, with a new engine, from
//! the cache the first one filled (cached).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use savepoint_plugin::{CallInput, Outcome, PluginHost};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
pub struct FirstCall {
    pub component_bytes: u64,
    pub cold: Duration,
    pub cached: Duration,
}

/// Measure `component` in a new folder under `scratch`.
pub async fn measure(component: &Path, scratch: &Path) -> anyhow::Result<FirstCall> {
    let plugins = scratch.join("plugins");
    let cache = scratch.join("cache");
    std::fs::create_dir_all(&plugins)?;
    let _ = std::fs::remove_dir_all(&cache);
    let dropped = plugins.join("counter.wasm");
    std::fs::copy(component, &dropped)?;
    let component_bytes = std::fs::metadata(&dropped)?.len();
    let cold = load_and_call(&dropped, &cache).await?;
    let cached = load_and_call(&dropped, &cache).await?;
    Ok(FirstCall {
        component_bytes,
        cold,
        cached,
    })
}

/// A new engine with `cache` as its compile cache, then load + one call.
async fn load_and_call(path: &Path, cache: &Path) -> anyhow::Result<Duration> {
    let host = PluginHost::new(Some(cache.to_path_buf()))
        .map_err(|e| anyhow!("cannot start the WebAssembly engine: {e:#}"))?;
    let started = Instant::now();
    let plugin = host.load(path).await.result?;
    let output = plugin.call(&call_input(), state_text(100)).await;
    let elapsed = started.elapsed();
    match output.result {
        Ok(Outcome::Update { state, .. }) if state.get("count") == Some(&json!(1)) => Ok(elapsed),
        other => bail!("{}: the first call returned {other:?}", path.display()),
    }
}

/// The input of a plain `count` call of node n1 at step 1.
pub fn call_input() -> CallInput {
    CallInput::new("bench", "n1", 1)
}

/// The W1 state `{count: 0, payload: "x" * size}` as JSON text.
pub fn state_text(size: usize) -> String {
    Value::Object(crate::w1::input(size)).to_string()
}
