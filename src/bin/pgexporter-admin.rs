//! `pgexporter-admin`: creates the master key and adds, changes, removes and lists the users of
//! an encrypted users or admins file.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use pgexporter::admin_args::{Cli, Command, Format, UserCommand};
use pgexporter::prompt::{self, PromptError};
use pgexporter::vault_files::{self, VaultFileError};
use pgexporter_core::secret::Secret;
use pgexporter_core::vault::{
    CredentialsFile, EditError, EntryError, FileKind, MasterKey, MasterKeyFile, PasswordError,
    generate_password,
};
use serde_json::{Value, json};

/// Environment variable with the master password (`master-key`) or the user's password.
const PASSWORD_ENV: &str = "PGEXPORTER_PASSWORD";
/// How to give a password without a terminal, for prompt errors.
const PASSWORD_HINT: &str = "give the password with -P, -g or PGEXPORTER_PASSWORD";
/// Management error code used in JSON output for every failure here ("error").
const ERROR_CODE: u32 = 1107;

/// Why a command failed; no variant carries a secret.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error(transparent)]
    Files(#[from] VaultFileError),
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("{}: {source}", path.display())]
    Edit { path: PathBuf, source: EditError },
    #[error("{}: {source}", path.display())]
    Entry { path: PathBuf, source: EntryError },
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("no random bytes from the operating system: {0}")]
    Random(getrandom::Error),
    #[error("user commands need the file: -f/--file FILE")]
    NoFile,
    #[error("{} does not exist", .0.display())]
    NoSuchFile(PathBuf),
}

/// What a successful command reports: lines for text output, the `Response` for JSON.
struct Report {
    lines: Vec<String>,
    response: Value,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
    let result = run(&cli);
    let elapsed = started.elapsed();
    match cli.format {
        Format::Text => match &result {
            Ok(report) => report.lines.iter().for_each(|line| println!("{line}")),
            Err(error) => eprintln!("pgexporter-admin: {error}"),
        },
        Format::Json => {
            println!("{}", document(cli.command, &result, elapsed));
            if let Err(error) = &result {
                eprintln!("pgexporter-admin: {error}");
            }
        }
    }
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(cli: &Cli) -> Result<Report, AdminError> {
    match cli.command {
        Command::MasterKey => create_master_key(cli),
        Command::User(UserCommand::Add) => set_password(cli, Change::Add),
        Command::User(UserCommand::Edit) => set_password(cli, Change::Edit),
        Command::User(UserCommand::Del) => delete_user(cli),
        Command::User(UserCommand::Ls) => list_users(cli),
    }
}

/// `master-key`: a new master password and salt in `~/.pgexporter/master.key`.
fn create_master_key(cli: &Cli) -> Result<Report, AdminError> {
    let path = vault_files::master_key_path(&vault_files::home_dir()?);
    // Refuse before asking for a password that could not be used anyway.
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(VaultFileError::MasterKeyExists { path }.into());
    }
    let (password, _) = new_password(cli, "Master password: ")?;
    let file = MasterKeyFile::new(password, random_array()?)?;
    vault_files::create_master_key(&path, &file)?;
    Ok(Report {
        lines: vec![format!("master key created: {}", path.display())],
        response: json!({ "MasterKey": path.display().to_string() }),
    })
}

/// Whether `user add` or `user edit` is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Edit,
}

/// `user add` and `user edit`: encrypt a password for a user and replace the file.
fn set_password(cli: &Cli, change: Change) -> Result<Report, AdminError> {
    let master_key = open_master_key()?;
    let path = file_path(cli)?;
    let mut file = match vault_files::read_credentials(path, file_kind(path))? {
        Some(file) => file,
        None if change == Change::Add => CredentialsFile::new(file_kind(path)),
        None => return Err(AdminError::NoSuchFile(path.to_owned())),
    };
    check_all_decrypt(&file, &master_key, path)?;
    let user = user_name(cli)?;
    // Refuse before asking for a password that could not be stored anyway.
    let known = file.find(&user).is_some();
    if change == Change::Add && known {
        return Err(edit_error(path, EditError::UserExists(user)));
    }
    if change == Change::Edit && !known {
        return Err(edit_error(path, EditError::UnknownUser(user)));
    }
    let (password, generated) = new_password(cli, "Password: ")?;
    let (salt, iv) = (random_array()?, random_array()?);
    let applied = match change {
        Change::Add => file.add(&user, &password, &master_key, salt, iv),
        Change::Edit => file.edit(&user, &password, &master_key, salt, iv),
    };
    applied.map_err(|source| edit_error(path, source))?;
    vault_files::replace_atomically(path, file.render().as_bytes())?;

    let verb = if change == Change::Add {
        "added to"
    } else {
        "changed in"
    };
    let mut lines = vec![format!("user \"{user}\" {verb} {}", path.display())];
    let mut response = json!({ "File": path.display().to_string(), "User": user });
    if generated {
        // The one place a password is shown: it was generated on request and is needed to set
        // the same password in PostgreSQL or on the client.
        let shown = password.expose_str().unwrap_or_default();
        lines.push(format!("password: {shown}"));
        response["Password"] = Value::from(shown);
    }
    Ok(Report { lines, response })
}

/// `user del`: remove a user's line and replace the file. Needs no master key.
fn delete_user(cli: &Cli) -> Result<Report, AdminError> {
    let path = file_path(cli)?;
    let mut file = existing_file(path)?;
    let user = user_name(cli)?;
    file.delete(&user)
        .map_err(|source| edit_error(path, source))?;
    vault_files::replace_atomically(path, file.render().as_bytes())?;
    Ok(Report {
        lines: vec![format!("user \"{user}\" removed from {}", path.display())],
        response: json!({ "File": path.display().to_string(), "User": user }),
    })
}

/// `user ls`: the user names, after checking that every password decrypts with the master key.
fn list_users(cli: &Cli) -> Result<Report, AdminError> {
    let master_key = open_master_key()?;
    let path = file_path(cli)?;
    let file = existing_file(path)?;
    check_all_decrypt(&file, &master_key, path)?;
    let users: Vec<String> = file.entries().map(|entry| entry.user.to_owned()).collect();
    Ok(Report {
        lines: users.clone(),
        response: json!({ "File": path.display().to_string(), "Users": users }),
    })
}

/// Reads the master key of the running user and derives the key (the slow step).
fn open_master_key() -> Result<MasterKey, AdminError> {
    let path = vault_files::master_key_path(&vault_files::home_dir()?);
    Ok(vault_files::read_master_key(&path)?.derive())
}

/// The `-f` file, required by every user command.
fn file_path(cli: &Cli) -> Result<&Path, AdminError> {
    cli.file.as_deref().ok_or(AdminError::NoFile)
}

/// A users file is any file whose name does not contain "admins".
fn file_kind(path: &Path) -> FileKind {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if name.contains("admins") {
        FileKind::Admins
    } else {
        FileKind::Users
    }
}

/// Reads the file at `path`, which must exist.
fn existing_file(path: &Path) -> Result<CredentialsFile, AdminError> {
    vault_files::read_credentials(path, file_kind(path))?
        .ok_or_else(|| AdminError::NoSuchFile(path.to_owned()))
}

/// Fails on the first entry that does not decrypt, so that a file never mixes master keys.
fn check_all_decrypt(
    file: &CredentialsFile,
    master_key: &MasterKey,
    path: &Path,
) -> Result<(), AdminError> {
    for entry in file.entries() {
        entry
            .decrypt(master_key)
            .map_err(|source| AdminError::Entry {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}

/// The `-U` user, or one asked for on the terminal.
fn user_name(cli: &Cli) -> Result<String, AdminError> {
    match &cli.user {
        Some(user) => Ok(user.clone()),
        None => Ok(prompt::read_text(
            "User name: ",
            "give the user with -U USER",
        )?),
    }
}

/// A new password: generated (`-g`), from `-P`, from `PGEXPORTER_PASSWORD`, or typed twice.
/// The flag says whether it was generated.
fn new_password(cli: &Cli, prompt_text: &str) -> Result<(Secret, bool), AdminError> {
    if cli.generate {
        let password = generate_password(usize::from(cli.length), getrandom::fill)
            .map_err(AdminError::Random)?;
        return Ok((password, true));
    }
    let password = match (&cli.password, std::env::var_os(PASSWORD_ENV)) {
        (Some(password), _) => Secret::from(password.as_str()),
        (None, Some(password)) => Secret::new(OsString::into_vec(password)),
        (None, None) => prompt::read_new_password(prompt_text, PASSWORD_HINT)?,
    };
    Ok((password, false))
}

/// `N` bytes from the operating system's random source.
fn random_array<const N: usize>() -> Result<[u8; N], AdminError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(AdminError::Random)?;
    Ok(bytes)
}

fn edit_error(path: &Path, source: EditError) -> AdminError {
    AdminError::Edit {
        path: path.to_owned(),
        source,
    }
}

/// The JSON document of a run, shaped like a management document (keys in byte order).
fn document(command: Command, result: &Result<Report, AdminError>, elapsed: Duration) -> Value {
    let header = json!({
        "ClientVersion": env!("CARGO_PKG_VERSION"),
        "Command": command.code(),
        "Compression": 0,
        "Encryption": 0,
        "Output": 1,
    });
    match result {
        Ok(report) => json!({
            "Header": header,
            "Response": report.response,
            "Outcome": { "Status": true, "Time": clock(elapsed) },
        }),
        Err(error) => json!({
            "Header": header,
            "Outcome": { "Status": false, "Error": ERROR_CODE, "Message": error.to_string() },
        }),
    }
}

/// `HH:MM:SS` of a duration.
fn clock(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}
