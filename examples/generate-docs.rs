//! Writes the manual pages and shell completions of every program below the directory given
//! as the only argument (see `pgexporter::manual`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: generate-docs DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    match pgexporter::manual::write_all(&dir) {
        Ok(()) => {
            println!(
                "manual pages and completions written below {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("generate-docs: {}: {error}", dir.display());
            ExitCode::FAILURE
        }
    }
}
