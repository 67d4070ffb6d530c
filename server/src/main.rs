//! `edgerec`: the command line around the SDK — benchmarks today; training, bundles, evaluation
//! and the sync server as they land. Uses the SDK only through its public API.

mod bench;
mod bench_ivf;
mod bundle;
mod eval;
mod events_export;
mod recommend;
mod rerank;
mod serve;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// edgerec: client-side recommender SDK tooling.
#[derive(Parser)]
#[command(name = "edgerec", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure kernel speed on this machine (CPU reference, optimized CPU, GPU).
    Bench(bench::BenchArgs),
    /// Build, inspect and verify model bundles.
    Bundle(bundle::BundleArgs),
    /// One recommendation from a bundle by the SDK's funnel (clicks, diversity, rules,
    /// server candidates); prints the items and trace as JSON.
    Recommend(recommend::RecommendArgs),
    /// Re-rank (DPP, MMR) on .npy inputs: conformance output and timings.
    Rerank(rerank::RerankArgs),
    /// Train the two-tower model, i2i lists, statistics and ranker; write a bundle.
    Train(train::TrainArgs),
    /// Evaluate a bundle against popularity / ItemCF / external baselines; split data.
    Eval(eval::EvalArgs),
    /// The sync server: event ingestion, model bundles, experiments, static files.
    Serve(serve::ServeArgs),
    /// Stored events: export a `serve` database to JSON Lines or Parquet.
    Events(events_export::EventsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Bundle(args) => bundle::run(&args),
        Command::Recommend(args) => recommend::run(&args),
        Command::Rerank(args) => rerank::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Events(args) => events_export::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("edgerec: {message}");
            ExitCode::FAILURE
        }
    }
}
