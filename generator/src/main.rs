//! The `bake` command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bake::build::{BuildOptions, build};
use bake::config::Config;

/// bake: a static site generator for baked data.
///
/// Turns a folder of markdown and data files (CSV, JSON, JSON Lines, SQL, SQLite) into a
/// static site with SQLite databases and a search index that the browser queries over
/// HTTP Range requests.
#[derive(Parser)]
#[command(name = "bake", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the site: content/ and bake.toml → site/.
    ///
    /// Writes into a staging folder next to the output and swaps it into place only when
    /// everything succeeded; a failed build leaves the previous site untouched.
    Build {
        /// The configuration file; its folder is the site's root.
        #[arg(short, long, default_value = "bake.toml")]
        config: PathBuf,
        /// Output folder (default: build.output from bake.toml, "site").
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Skip data rows whose values do not fit their column's type, and report how many.
        #[arg(long)]
        skip_bad_rows: bool,
        /// Include pages marked `draft = true`.
        #[arg(long)]
        drafts: bool,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
        /// Replace the output folder even if bake did not write it (it holds no `_headers`
        /// written by bake). Without it, such a folder is left alone.
        #[arg(long)]
        force: bool,
    },
    /// Check the site without writing it: links and #anchors, diagrams, canned queries,
    /// output paths.
    ///
    /// Runs the build's stages (the data is baked into a temporary folder, so canned
    /// queries can be prepared against the real schema), prints every problem with its
    /// file and line, and exits with status 1 if there is any.
    Check {
        /// The configuration file; its folder is the site's root.
        #[arg(short, long, default_value = "bake.toml")]
        config: PathBuf,
    },
    /// Start a new site in DIR: bake.toml, a page, a small dataset and a diagram.
    ///
    /// Refuses a DIR that exists and is not empty, so nothing is ever overwritten.
    Init {
        /// Folder to create (or an empty one to fill).
        dir: PathBuf,
    },
    /// Preview the site on this machine, with Range support, the _headers rules and live reload.
    Serve {
        /// The configuration file; its folder is the site's root.
        #[arg(short, long, default_value = "bake.toml")]
        config: PathBuf,
        /// Folder to serve (default: build.output from bake.toml, "site").
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Port to listen on (0: any free port).
        #[arg(short, long, default_value_t = 8000)]
        port: u16,
        /// Serve the folder as it is, without building first.
        #[arg(long)]
        no_build: bool,
        /// Do not watch for changes (no rebuild, no live reload).
        #[arg(long)]
        no_watch: bool,
    },
}

/// Stack of the thread that runs a command. Legal but deep input (long include chains,
/// nested HTML in the minifier, recursive macros that do stop) recurses; address space is
/// reserved, not used, until a page needs it.
const MAIN_STACK: usize = 256 << 20;
/// Stack of each worker thread that renders pages in parallel.
const WORKER_STACK: usize = 64 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Fails only if a pool exists already, and then that pool is used as it is.
    let _ = rayon::ThreadPoolBuilder::new()
        .stack_size(WORKER_STACK)
        .build_global();
    std::thread::Builder::new()
        .name("bake".into())
        .stack_size(MAIN_STACK)
        .spawn(move || run(cli))
        .map(|t| t.join().unwrap_or(ExitCode::FAILURE))
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start: {e}");
            ExitCode::FAILURE
        })
}

fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Build {
            config,
            out,
            skip_bad_rows,
            drafts,
            quiet,
            force,
        } => Config::load(&config).and_then(|c| {
            let report = build(
                &c,
                &BuildOptions {
                    out,
                    skip_bad_rows,
                    drafts,
                    quiet,
                    force,
                },
            )?;
            if !quiet {
                for w in &report.warnings {
                    eprintln!("warning: {w}");
                }
                println!("{report}");
            }
            Ok(())
        }),
        Command::Check { config } => Config::load(&config).and_then(|c| {
            let report = bake::check::check(&c)?;
            for p in &report.problems {
                eprintln!("error: {p}");
            }
            println!("{report}");
            if report.problems.is_empty() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }),
        Command::Init { dir } => bake::init::init(&dir).map(|written| {
            let exe = std::env::current_exe().ok();
            let bake =
                bake::init::command_name(exe.as_deref(), std::env::var_os("PATH").as_deref());
            print!("{}", bake::init::summary(&dir, &written, &bake))
        }),
        Command::Serve {
            config,
            out,
            bind,
            port,
            no_build,
            no_watch,
        } => bake::serve::run(bake::serve::ServeOptions {
            config,
            out,
            bind,
            port,
            build: !no_build,
            watch: !no_watch,
            // Rebuilds run this executable; the timeouts and limits are the defaults.
            ..Default::default()
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
