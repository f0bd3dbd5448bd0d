//! The first call of a newly dropped component: the file is copied into a new
//! plugins folder, then `PluginHost::load` (read, digest, compile or read the
//! compiled code from the cache, `describe()`) and one `run` call are timed:
//! with an empty compile cache and Cranelift only (how hosts compiled before
//! Winch), from the cache that filled (cached), and with an empty cache and
//! the default tiering (Winch first for a large component, Cranelift in the
//! background: `cold`). Then, with that last host, how long the background
//! compile takes and what a call costs meanwhile; and the steady-state call
//! (fresh instance + `run`) on each compiler's code.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use savepoint_plugin::{CallInput, Compiler, Outcome, Plugin, PluginHost, Tiering};
use serde_json::{Value, json};

use crate::stats::percentile;

/// Calls timed per steady-state figure.
const CALLS: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct FirstCall {
    pub component_bytes: u64,
    /// Default tiering, empty cache.
    pub cold: Duration,
    /// Cranelift only, empty cache (before Winch).
    pub cold_cranelift: Duration,
    /// Cranelift's code from the cache.
    pub cached: Duration,
    /// From the cold load's first call to the swap to Cranelift's code (the
    /// background compile, its start delay included); `None` when the
    /// component runs Cranelift's code from the start (a small one).
    pub optimize: Option<Duration>,
    /// A call on Winch's code while Cranelift compiles in the background, p50.
    pub call_while_optimizing: Option<Duration>,
    /// A call on Winch's code, p50 (Winch only: nothing in the background).
    pub call_winch: Duration,
    /// A call on Cranelift's code, p50.
    pub call_cranelift: Duration,
}

/// Measure `component` in a new folder under `scratch`.
pub async fn measure(component: &Path, scratch: &Path) -> anyhow::Result<FirstCall> {
    let plugins = scratch.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let dropped = plugins.join("counter.wasm");
    std::fs::copy(component, &dropped)?;
    let component_bytes = std::fs::metadata(&dropped)?.len();
    let cache = |name: &str| {
        let dir = scratch.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    };

    let cranelift_cache = cache("cache-cranelift");
    let (cold_cranelift, plugin) =
        load_and_call(&dropped, &cranelift_cache, Tiering::CraneliftOnly).await?;
    let call_cranelift = steady(&plugin, Compiler::Cranelift).await?;
    drop(plugin);
    let (cached, _) = load_and_call(&dropped, &cranelift_cache, default_tiering()).await?;

    let (cold, plugin) = load_and_call(&dropped, &cache("cache-tiered"), default_tiering()).await?;
    let loaded = Instant::now();
    let (optimize, call_while_optimizing) = match plugin.compiler() {
        Compiler::Cranelift => (None, None),
        Compiler::Winch => {
            let mut calls = Vec::new();
            while plugin.compiler() == Compiler::Winch {
                calls.push(call(&plugin).await?);
            }
            (Some(loaded.elapsed()), percentile(&calls, 50.0))
        }
    };
    drop(plugin);

    let winch_only = Tiering::WinchOnly { from: 0 };
    let (_, plugin) = load_and_call(&dropped, &cache("cache-winch"), winch_only).await?;
    let call_winch = steady(&plugin, Compiler::Winch).await?;
    Ok(FirstCall {
        component_bytes,
        cold,
        cold_cranelift,
        cached,
        optimize,
        call_while_optimizing,
        call_winch,
        call_cranelift,
    })
}

/// What a host does unless told otherwise.
fn default_tiering() -> Tiering {
    Tiering::WinchFirst {
        from: savepoint_plugin::WINCH_FROM,
    }
}

/// A new engine with `cache` as its compile cache, then load + one call.
async fn load_and_call(
    path: &Path,
    cache: &Path,
    tiering: Tiering,
) -> anyhow::Result<(Duration, Plugin)> {
    let host = PluginHost::new(Some(cache.to_path_buf()))
        .map_err(|e| anyhow!("cannot start the WebAssembly engine: {e:#}"))?
        .with_tiering(tiering);
    let started = Instant::now();
    let plugin = host.load(path).await.result?;
    call(&plugin).await?;
    Ok((started.elapsed(), plugin))
}

/// One call (fresh instance + `run`), timed.
async fn call(plugin: &Plugin) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let output = plugin.call(&call_input(), state_text(100)).await;
    let elapsed = started.elapsed();
    match output.result {
        Ok(Outcome::Update { state, .. }) if state.get("count") == Some(&json!(1)) => Ok(elapsed),
        other => bail!("{}: the call returned {other:?}", plugin.path.display()),
    }
}

/// The p50 of [`CALLS`] calls, which must all run `compiler`'s code.
async fn steady(plugin: &Plugin, compiler: Compiler) -> anyhow::Result<Duration> {
    let before = plugin.calls_on(compiler);
    let mut calls = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        calls.push(call(plugin).await?);
    }
    if plugin.calls_on(compiler) - before != CALLS as u64 {
        bail!(
            "{}: not every call ran {compiler:?}'s code",
            plugin.path.display()
        );
    }
    percentile(&calls, 50.0).ok_or_else(|| anyhow!("no calls"))
}

/// The input of a plain `count` call of node n1 at step 1.
pub fn call_input() -> CallInput {
    CallInput::new("bench", "n1", 1)
}

/// The W1 state `{count: 0, payload: "x" * size}` as JSON text.
pub fn state_text(size: usize) -> String {
    Value::Object(crate::w1::input(size)).to_string()
}
