//! The pgexporter daemon.
#[cfg(not(any(
    all(
        feature = "runtime-tokio",
        not(feature = "runtime-smol"),
        not(feature = "runtime-fork")
    ),
    all(
        feature = "runtime-smol",
        not(feature = "runtime-tokio"),
        not(feature = "runtime-fork")
    ),
    all(
        feature = "runtime-fork",
        not(feature = "runtime-tokio"),
        not(feature = "runtime-smol")
    ),
)))]
compile_error!("enable exactly one of the features runtime-tokio, runtime-smol, runtime-fork");

fn main() {}
