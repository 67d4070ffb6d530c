//! Helpers shared by the `edgerec` command-line tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `edgerec` binary built for this test run.
pub fn edgerec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgerec")).args(args).output().expect("edgerec runs")
}

/// A fresh, empty directory private to this test binary, process and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgerec-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Writes `text` to `dir/name` and returns the path as a string for command arguments.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test input");
    p.display().to_string()
}

/// The command's standard error, lossily decoded.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// MovieLens ml-latest-small, carried in the repository (`data/ml-latest-small`, with its
/// README and licence). Panics when it is missing: the tests that need it must fail, not skip.
pub fn movielens_dir() -> PathBuf {
    let dir = repo().join("data/ml-latest-small");
    assert!(
        dir.join("ratings.csv").is_file() && dir.join("movies.csv").is_file(),
        "MovieLens ml-latest-small is missing at {} (it is part of the repository)",
        dir.display()
    );
    dir
}

/// Splits MovieLens per user by time (`edgerec eval --split temporal`, the sample model's
/// split) into `dir/split` and returns that directory, holding `train.csv` and `test.csv`.
pub fn movielens_split(dir: &Path) -> PathBuf {
    let data = movielens_dir();
    let split = dir.join("split");
    let out = edgerec(&[
        "eval",
        "--split",
        "temporal",
        "--interactions",
        &data.join("ratings.csv").display().to_string(),
        "--items",
        &data.join("movies.csv").display().to_string(),
        "--split-out",
        &split.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    split
}
