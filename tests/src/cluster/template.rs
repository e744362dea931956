//! One `initdb` per test process: the first cluster initializes a template data directory and
//! every cluster starts from a copy of it, which takes a fraction of the time `initdb` does.
//! The template is removed by its own watchdog when the process ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::tools::{Tools, run};
use super::watchdog::Watchdog;
use super::{SUPERUSER, fresh_directory};

/// The initialized template and the watchdog that removes it.
struct Template {
    data_dir: PathBuf,
    _watchdog: Watchdog,
}

/// Creates `data_dir` as a fresh cluster owned by the account the tools run as.
pub(crate) fn copy_initialized_data_dir(tools: &Tools, data_dir: &Path) {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| initialize(tools));
    // `cp -a` keeps modes and, when running as root, the postgres ownership.
    let mut copy = Command::new("cp");
    copy.arg("-a").arg(&template.data_dir).arg(data_dir);
    run(
        &mut copy,
        "cp -a (copying the initialized template cluster)",
    );
}

fn initialize(tools: &Tools) -> Template {
    let dir = fresh_directory();
    tools.give_away(&dir);
    let watchdog = Watchdog::spawn(Command::new("true"), &dir);
    let data_dir = dir.join("data");
    let mut initdb = tools.pg_command("initdb", &dir);
    initdb.arg("-D").arg(&data_dir).args([
        "-U",
        SUPERUSER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(&mut initdb, "initdb");
    Template {
        data_dir,
        _watchdog: watchdog,
    }
}
