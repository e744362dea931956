//! One `initdb` per installation and test process: the first cluster of a PostgreSQL
//! installation initializes a template data directory and every cluster of it starts from a
//! copy, which takes a fraction of the time `initdb` does. Templates are removed by their own
//! watchdogs when the process ends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use super::tools::{Tools, run};
use super::watchdog::Watchdog;
use super::{SUPERUSER, fresh_directory};

/// The initialized template and the watchdog that removes it.
struct Template {
    data_dir: PathBuf,
    _watchdog: Watchdog,
}

/// Creates `data_dir` as a fresh cluster of `tools`' installation, owned by the account the
/// tools run as. Installations initialize their templates in parallel.
pub(crate) fn copy_initialized_data_dir(tools: &Tools, data_dir: &Path) {
    type Templates = Mutex<HashMap<PathBuf, Arc<OnceLock<Template>>>>;
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    let slot = {
        let mut templates = TEMPLATES
            .get_or_init(Templates::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(templates.entry(tools.bin_dir().to_path_buf()).or_default())
    };
    let template = slot.get_or_init(|| initialize(tools));
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
