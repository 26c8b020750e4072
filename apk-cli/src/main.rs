//! `apk`: the command line. Global options are parsed as apk-tools parses them (anywhere
//! on the line); each applet lives in `commands/`.

mod commands;
mod context;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::GlobalOpts;

#[derive(Parser)]
#[command(
    name = "apk",
    version,
    about = "Alpine package manager (apk-rs)",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add packages to the world and install them
    Add(commands::add::Args),
    /// Remove packages from the world and uninstall them
    Del(commands::del::Args),
    /// Upgrade installed packages
    Upgrade(commands::upgrade::Args),
    /// Reinstall or upgrade installed packages
    Fix(commands::fix::Args),
    /// Search packages by name, provided name or description
    Search(commands::query::SearchArgs),
    /// Show package details
    Info(commands::query::InfoArgs),
    /// List packages
    List(commands::query::ListArgs),
    /// Dependency graph in graphviz format
    Dot(commands::query::DotArgs),
    /// Show the repositories that provide each version of a package
    Policy(commands::query::PolicyArgs),
    /// Show statistics about installed and available packages
    Stats,
    /// Fetch the indexes of network repositories into the cache
    Update,
    /// List files that differ from the installed database
    Audit(commands::audit::Args),
    /// Manage the package cache: clean, download, sync
    Cache(commands::cache::Args),
    /// Download packages from the repositories
    Fetch(commands::query::FetchArgs),
    /// Compare versions, or check their validity
    Version(commands::version::Args),
    /// Verify package and index files
    Verify(commands::verify::Args),
    /// Create a repository index from packages
    Index(commands::index::Args),
    /// Show the checksums of package contents
    Manifest(commands::manifest::Args),
    /// Extract package files into a directory
    Extract(commands::extract::Args),
    /// apk-tools applets this build does not have yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv
        .get(1)
        .is_some_and(|a| a == apk_core::commit::script::SANDBOX_ARG)
    {
        let code = apk_core::commit::script::sandbox_main(&argv[2..]);
        return ExitCode::from(u8::try_from(code).unwrap_or(127));
    }
    if let Ok(exe) = std::env::current_exe() {
        apk_core::commit::script::set_launcher(exe);
    }
    let cli = Cli::parse();
    let ctx = match context::Context::new(cli.global) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("ERROR: {msg}");
            return ExitCode::from(1);
        }
    };
    let failures = match cli.command {
        Command::Add(a) => commands::add::run(&ctx, a),
        Command::Del(a) => commands::del::run(&ctx, a),
        Command::Upgrade(a) => commands::upgrade::run(&ctx, a),
        Command::Fix(a) => commands::fix::run(&ctx, a),
        Command::Search(a) => commands::query::search(&ctx, a),
        Command::Info(a) => commands::query::info(&ctx, a),
        Command::List(a) => commands::query::list(&ctx, a),
        Command::Dot(a) => commands::query::dot(&ctx, a),
        Command::Policy(a) => commands::query::policy(&ctx, a),
        Command::Fetch(a) => commands::query::fetch(&ctx, a),
        Command::Stats => commands::query::stats(&ctx),
        Command::Update => commands::update::run(&ctx),
        Command::Audit(a) => commands::audit::run(&ctx, a),
        Command::Cache(a) => commands::cache::run(&ctx, a),
        Command::Version(a) => commands::version::run(&ctx, a),
        Command::Verify(a) => commands::verify::run(&ctx, a),
        Command::Index(a) => commands::index::run(&ctx, a),
        Command::Manifest(a) => commands::manifest::run(&ctx, a),
        Command::Extract(a) => commands::extract::run(&ctx, a),
        Command::Other(words) => {
            let name = words.first().map(String::as_str).unwrap_or("");
            eprintln!("ERROR: applet '{name}' is not implemented in this build of apk-rs");
            1
        }
    };
    ExitCode::from(failures.min(255) as u8)
}
