//! One seed for a property suite: printed, so a failure replays. `MI_PROPTEST_SEED=<n>` replays a
//! seed, `MI_PROPTEST_SEED=random` explores with a new one; by default each suite has a fixed seed,
//! so a run in CI is the run a developer gets.

use proptest::test_runner::{Config, RngSeed};

/// The seed of `suite` for this run (printed once per call).
pub fn seed(suite: &str, default: u64) -> u64 {
    let seed = match std::env::var("MI_PROPTEST_SEED").ok().as_deref() {
        Some("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(default, |d| d.as_nanos() as u64),
        Some(text) => text.trim().parse().unwrap_or(default),
        None => default,
    };
    println!("{suite} properties: seed {seed} (replay: MI_PROPTEST_SEED={seed})");
    seed
}

/// A proptest configuration with `cases` cases, the suite's seed and no persistence files.
pub fn config(suite: &str, default_seed: u64, cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed(suite, default_seed)),
        ..Config::default()
    }
}
