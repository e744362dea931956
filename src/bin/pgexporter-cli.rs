//! `pgexporter-cli`: sends one management command to a running pgexporter, over its local
//! socket or its remote management port, and prints the answer; or encrypts and decrypts
//! files with the master key. See `pgexporter-cli -?`.

use std::process::ExitCode;

use clap::Parser;
use pgexporter::cli::args::Args;
use pgexporter::cli::log::Log;

fn main() -> ExitCode {
    let args = Args::parse();
    let mut log = match Log::open(args.logfile.as_deref(), args.verbose) {
        Ok(log) => log,
        Err(error) => {
            Log::quiet().error(error);
            return ExitCode::FAILURE;
        }
    };
    match pgexporter::cli::run(&args, &mut log) {
        Ok(report) => {
            print!("{}", report.stdout);
            match report.failure {
                None => ExitCode::SUCCESS,
                Some(failure) => {
                    log.error(failure);
                    ExitCode::FAILURE
                }
            }
        }
        Err(error) => {
            log.error(error);
            ExitCode::FAILURE
        }
    }
}
