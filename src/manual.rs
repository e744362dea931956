//! Manual pages and shell completions, generated from the programs' clap definitions and the
//! configuration key tables so that they cannot drift from what the programs accept:
//! `pgexporter(1)`, `pgexporter-cli(1)`, `pgexporter-admin(1)`, `pgexporter-config(1)`,
//! `pgexporter.conf(5)`, and bash, zsh and fish completions of every program.
//!
//! `cargo run --example generate-docs -- DIR` writes them below `DIR` ([`write_all`]).

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use pgexporter_core::config::{KeyDoc, MAIN_KEY_DOCS, SERVER_KEY_DOCS};

use crate::admin_args::Cli as AdminCli;
use crate::cli::args::Args as CliArgs;
use crate::config_args::ConfigCli;
use crate::daemon_args::Args as DaemonArgs;

/// The shells completions are written for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// The name of the manual the pages belong to.
const MANUAL: &str = "pgexporter manual";

/// The command definitions of every program.
pub fn programs() -> Vec<clap::Command> {
    vec![
        DaemonArgs::command(),
        CliArgs::command(),
        AdminCli::command(),
        ConfigCli::command(),
    ]
}

/// The section 1 page of `program`: clap_mangen's sections, with COMMANDS in place of its list
/// of subcommand pages, giving the usage and options of every command at any depth (`user del`
/// of `pgexporter-admin`) on this one page.
pub fn program_page(program: clap::Command) -> Vec<u8> {
    let mut program = program;
    program.build();
    let man = Man::new(program.clone()).manual(MANUAL);
    let mut page = Vec::new();
    let rendered = man
        .render_title(&mut page)
        .and_then(|()| man.render_name_section(&mut page))
        .and_then(|()| man.render_synopsis_section(&mut page))
        .and_then(|()| man.render_description_section(&mut page))
        .and_then(|()| man.render_options_section(&mut page));
    if program.has_subcommands() {
        let mut commands = Roff::new();
        commands.control("SH", ["COMMANDS"]);
        commands_section(&mut commands, &program);
        page.extend_from_slice(commands.to_roff().as_bytes());
    }
    rendered
        .and_then(|()| man.render_extra_section(&mut page))
        .and_then(|()| man.render_version_section(&mut page))
        .expect("rendering into memory does not fail");
    page
}

/// An entry for every subcommand of `command` and, after it, of its subcommands.
fn commands_section(page: &mut Roff, command: &clap::Command) {
    for subcommand in command.get_subcommands() {
        let mut subcommand = subcommand.clone();
        let usage = subcommand.render_usage().to_string();
        let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage).to_owned();
        page.control("TP", []).text([bold(usage)]);
        if let Some(about) = subcommand.get_about() {
            page.text([roman(about.to_string())]);
        }
        for arg in subcommand
            .get_arguments()
            .filter(|arg| !arg.is_global_set() && arg.get_id() != "help")
        {
            let short = arg.get_short().map(|short| format!("-{short}"));
            let long = arg.get_long().map(|long| format!("--{long}"));
            let flags: Vec<String> = short.into_iter().chain(long).collect();
            if flags.is_empty() {
                continue;
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            page.control("IP", [])
                .text([bold(flags.join(", ")), roman(format!(" {help}"))]);
        }
        commands_section(page, &subcommand);
    }
}

/// The completion script of `program` for `shell`.
pub fn completion(program: clap::Command, shell: Shell) -> Vec<u8> {
    let mut program = program;
    let name = program.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut program, name, &mut script);
    script
}

/// The file name a completion script of `program` for `shell` is installed as.
pub fn completion_file_name(program: &str, shell: Shell) -> String {
    match shell {
        Shell::Zsh => format!("_{program}"),
        Shell::Fish => format!("{program}.fish"),
        _ => program.to_owned(),
    }
}

/// `pgexporter.conf(5)`: the file format and every key of the key tables.
pub fn config_page() -> Vec<u8> {
    let mut page = Roff::new();
    // `""` is an empty argument: the date and source are left to man.
    page.control("TH", ["PGEXPORTER.CONF", "5", "\"\"", "\"\"", MANUAL])
        .control("SH", ["NAME"])
        .text([roman(
            "pgexporter.conf - configuration file of pgexporter, the Prometheus exporter for PostgreSQL",
        )])
        .control("SH", ["SYNOPSIS"])
        .text([roman("/etc/pgexporter/pgexporter.conf")])
        .control("SH", ["DESCRIPTION"])
        .text([roman(
            "An INI file: a [pgexporter] section with the exporter's settings, then one section \
             per PostgreSQL server, named after it. Lines are key = value; # and ; start a \
             comment; a value may be quoted with \" or '. A file whose name ends in .toml is \
             read as TOML with the same sections and keys. Durations take s, m, h or d (ms \
             where noted), sizes K, M or G.",
        )])
        .control("PP", [])
        .text([
            bold("pgexporter-config"),
            roman("(1) reads and changes keys in place; passwords live in the users file made with "),
            bold("pgexporter-admin"),
            roman("(1)."),
        ]);
    key_section(&mut page, "[pgexporter]", MAIN_KEY_DOCS);
    key_section(&mut page, "SERVER SECTIONS", SERVER_KEY_DOCS);
    page.control("SH", ["SEE ALSO"]).text([
        bold("pgexporter"),
        roman("(1), "),
        bold("pgexporter-cli"),
        roman("(1), "),
        bold("pgexporter-admin"),
        roman("(1), "),
        bold("pgexporter-config"),
        roman("(1)"),
    ]);
    page.render().into_bytes()
}

fn key_section(page: &mut Roff, title: &str, keys: &[KeyDoc]) {
    page.control("SH", [title]);
    for key in keys {
        page.control("TP", [])
            .text([bold(key.name), roman(" = "), italic(key.value)])
            .text([roman(key.meaning)]);
    }
}

/// Writes every page below `dir/man/man1` and `dir/man/man5`, and every completion below
/// `dir/completions/{bash,zsh,fish}`.
///
/// # Errors
/// When a directory or file cannot be written.
pub fn write_all(dir: &Path) -> io::Result<()> {
    let man1 = dir.join("man/man1");
    let man5 = dir.join("man/man5");
    fs::create_dir_all(&man1)?;
    fs::create_dir_all(&man5)?;
    fs::write(man5.join("pgexporter.conf.5"), config_page())?;
    for program in programs() {
        let name = program.get_name().to_owned();
        fs::write(
            man1.join(format!("{name}.1")),
            program_page(program.clone()),
        )?;
        for shell in SHELLS {
            let shell_dir = dir.join("completions").join(shell.to_string());
            fs::create_dir_all(&shell_dir)?;
            fs::write(
                shell_dir.join(completion_file_name(&name, shell)),
                completion(program.clone(), shell),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgexporter_core::config::{MAIN_KEYS, SERVER_KEYS};

    /// Every `-x` and `--long` of `program` and of its subcommands, at any depth.
    fn flags(program: &clap::Command) -> Vec<String> {
        let mut found: Vec<String> = program
            .get_arguments()
            .flat_map(|arg| {
                let short = arg.get_short().map(|short| format!("-{short}"));
                let long = arg.get_long().map(|long| format!("--{long}"));
                short.into_iter().chain(long)
            })
            .collect();
        for subcommand in program.get_subcommands() {
            found.extend(flags(subcommand));
        }
        found
    }

    /// How a completion script of `shell` names `flag`: fish as `-s x` / `-l long`.
    fn completion_spelling(flag: &str, shell: Shell) -> String {
        match (shell, flag.strip_prefix("--")) {
            (Shell::Fish, Some(long)) => format!("-l {long}"),
            (Shell::Fish, None) => format!("-s {}", &flag[1..]),
            _ => flag.to_owned(),
        }
    }

    /// Every subcommand name at any depth.
    fn subcommands(program: &clap::Command) -> Vec<String> {
        program
            .get_subcommands()
            .flat_map(|sub| std::iter::once(sub.get_name().to_owned()).chain(subcommands(sub)))
            .collect()
    }

    #[test]
    fn every_flag_and_subcommand_is_in_the_page_and_every_completion() {
        for program in programs() {
            let name = program.get_name().to_owned();
            let page = String::from_utf8(program_page(program.clone())).unwrap();
            // roff writes a `-` of an option as `\-`.
            let plain = page.replace("\\-", "-");
            let flags = flags(&program);
            assert!(!flags.is_empty(), "{name}");
            for flag in &flags {
                assert!(plain.contains(flag.as_str()), "{name}(1) lacks {flag}");
            }
            for subcommand in subcommands(&program) {
                assert!(plain.contains(&subcommand), "{name}(1) lacks {subcommand}");
            }
            for shell in SHELLS {
                let script = String::from_utf8(completion(program.clone(), shell)).unwrap();
                for flag in &flags {
                    let written = completion_spelling(flag, shell);
                    assert!(
                        script.contains(&written),
                        "{shell} completion of {name} lacks {written}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_configuration_key_is_in_the_configuration_page() {
        let page = String::from_utf8(config_page()).unwrap();
        for key in MAIN_KEYS.iter().chain(SERVER_KEYS.iter()) {
            let heading = format!("\\fB{}\\fR", key.name);
            assert!(
                page.contains(&heading),
                "pgexporter.conf(5) lacks {}",
                key.name
            );
        }
        assert!(
            page.contains("\n.TH PGEXPORTER.CONF 5 \"\" \"\" \"pgexporter manual\"\n"),
            "{page}"
        );
    }

    #[test]
    fn completion_files_are_named_as_each_shell_loads_them() {
        assert_eq!(
            completion_file_name("pgexporter", Shell::Bash),
            "pgexporter"
        );
        assert_eq!(
            completion_file_name("pgexporter", Shell::Zsh),
            "_pgexporter"
        );
        assert_eq!(
            completion_file_name("pgexporter", Shell::Fish),
            "pgexporter.fish"
        );
    }
}
