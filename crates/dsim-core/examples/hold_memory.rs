//! Memory of in-flight messages: runs the hold model with many messages in flight and
//! prints the peak resident set size, so that a run with messages minus a run without
//! gives the bytes each in-flight message costs.
//!
//! ```text
//! cargo build --release -p dsim-core --example hold_memory
//! /usr/bin/time -v target/release/examples/hold_memory 10   # 1,000,000 in flight
//! /usr/bin/time -v target/release/examples/hold_memory 0    # baseline: nodes only
//! ```
//!
//! Arguments (all optional): `MESSAGES_PER_NODE` (default 10), `NODES` (default
//! 100,000), `VIRTUAL_MS` (default 2). Links are log-normal (median 1 ms, sigma 0.5)
//! with no drops, so the number of messages in flight stays constant.

use dsim_core::hold::HoldNode;
use dsim_core::{
    Delay, LinkModel, LinkOrder, NetworkConfig, SimConfig, SimTime, Simulation, fingerprint_hex,
};
use std::process::ExitCode;

fn arg(position: usize, default: u64) -> Result<u64, String> {
    match std::env::args().nth(position) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("argument {position} must be a whole number, found {text:?}")),
    }
}

/// The peak resident set size of this process in KiB, from /proc (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let parsed = (|| Ok::<_, String>((arg(1, 10)?, arg(2, 100_000)?, arg(3, 2)?)))();
    let (messages_per_node, nodes, virtual_ms) = match parsed {
        Ok(values) => values,
        Err(message) => {
            eprintln!(
                "hold_memory: {message}\nusage: hold_memory [MESSAGES_PER_NODE] [NODES] [VIRTUAL_MS]"
            );
            return ExitCode::from(2);
        }
    };
    let Ok(messages_per_node) = u32::try_from(messages_per_node) else {
        eprintln!("hold_memory: MESSAGES_PER_NODE is too large");
        return ExitCode::from(2);
    };
    let config = SimConfig {
        seed: 1,
        network: NetworkConfig {
            default_link: LinkModel {
                delay: Delay::LogNormal {
                    median_ns: 1_000_000.0,
                    sigma: 0.5,
                },
                drop_ratio: 0.0,
                duplicate_ratio: 0.0,
                order: LinkOrder::Unordered,
            },
            ..NetworkConfig::default()
        },
        ..SimConfig::default()
    };
    let mut sim = match Simulation::new(config, nodes as usize, move |_, _| {
        HoldNode::new(messages_per_node)
    }) {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("hold_memory: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = sim.run_until(SimTime(virtual_ms * 1_000_000)) {
        eprintln!("hold_memory: {error}");
        return ExitCode::FAILURE;
    }
    let counters = sim.counters();
    println!("nodes                {nodes}");
    println!("messages_per_node    {messages_per_node}");
    println!("pending_events       {}", sim.pending_events());
    println!("messages_delivered   {}", counters.messages_delivered);
    println!("virtual_time_ns      {}", sim.now().0);
    println!(
        "fingerprint          {}",
        fingerprint_hex(sim.fingerprint())
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak_rss_kib         {kib}");
    }
    ExitCode::SUCCESS
}
