//! `sinkwatch`: see README.md. Exit status: 0 done, 2 usage or config error,
//! 1 runtime failure — each with one clear line on stderr.

use std::process::ExitCode;

use clap::Parser;

use sinkwatch::cli::Cli;
use sinkwatch::run::Failure;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command-line argument clap refused for not being UTF-8, with the
/// option it is the value of (`--record FILE`, `--record=FILE`), as one
/// line. clap does not say which: each argument that is not UTF-8 is made
/// UTF-8 in turn, and the one whose change ends that error is it (options
/// that take any bytes accepted the others).
fn not_utf8_argument() -> Option<String> {
    use clap::CommandFactory;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let refused = |args: &[std::ffi::OsString]| matches!(Cli::try_parse_from(args), Err(e) if e.kind() == clap::error::ErrorKind::InvalidUtf8);
    let at = (1..args.len()).find(|&i| {
        args[i].to_str().is_none() && {
            let mut fixed = args.clone();
            fixed[i] = args[i].to_string_lossy().into_owned().into();
            !refused(&fixed)
        }
    })?;
    let whole = args[at].to_string_lossy();
    let cmd = Cli::command();
    let takes_value = |option: &str| {
        let long = option.strip_prefix("--");
        std::iter::once(&cmd)
            .chain(cmd.get_subcommands())
            .flat_map(|c| c.get_arguments())
            .any(|a| {
                a.get_long().is_some() && a.get_long() == long && a.get_action().takes_values()
            })
    };
    let (option, shown) = match whole.split_once('=') {
        Some((o, v)) if o.starts_with("--") => (Some(o.to_owned()), v),
        // The value of the option before it, if that takes one.
        _ => (
            args[at - 1]
                .to_str()
                .filter(|p| takes_value(p))
                .map(str::to_owned),
            &*whole,
        ),
    };
    Some(match option {
        Some(o) => format!("{o}: {shown:?} is not valid UTF-8"),
        None => format!("argument {shown:?} is not valid UTF-8"),
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line, like every other usage error: clap's first
            // paragraph names the option and the problem.
            let text = e.to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let mut first = first.join(" ");
            // clap does not say which argument was not UTF-8: found here.
            if e.kind() == clap::error::ErrorKind::InvalidUtf8
                && let Some(which) = not_utf8_argument()
            {
                first = which;
            }
            // clap echoes the value given: a path or word with escape
            // sequences must not reach the terminal as they are.
            eprintln!(
                "sinkwatch: {} (see --help)",
                sinkwatch::sanitize::line(first.strip_prefix("error: ").unwrap_or(&first))
            );
            return ExitCode::from(2);
        }
    };
    // A viewer's memory in small pages: the allocator asks for huge ones,
    // which a viewer's small, churning heap fills sparsely. Measured with
    // one `attach --no-tui` under 300,000 alerts: peak RSS 55 → 27 MB and
    // its CPU per alert 0.85 → 0.70 µs (the kernel zeroed 2 MiB per first
    // touch; BENCHMARKS). The sink keeps them: its CPU did not change, and
    // a large store may use them.
    #[cfg(target_os = "linux")]
    if matches!(cli.command, Some(sinkwatch::cli::Command::Attach(_))) {
        // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and
        // changes only this process's memory policy.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    // The sink and `attach` stop cleanly on a signal, even one sent while
    // they read their config, before their handlers can be installed.
    if matches!(cli.command, None | Some(sinkwatch::cli::Command::Attach(_))) {
        sinkwatch::shutdown::hold_early();
    }
    let log = sinkwatch::logging::init();
    let result = match cli.command {
        None => {
            // The sink's log holds what a run never prints (viewers, refusals
            // in detail): not having one is said, once. Client commands go
            // on quietly.
            if let sinkwatch::logging::Logging::Off(why) = &log {
                say(&format!("warning: {why} (logs: SINKWATCH_LOG_TO=stderr)"));
            }
            sinkwatch::config::settings(&cli.run)
                .map_err(Failure::from)
                .and_then(sinkwatch::run::run_sink)
        }
        Some(cmd) => sinkwatch::commands::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The messages name files and values as the user gave them, and
        // some carry what a server answered: sanitized, as all terminal
        // output is.
        Err(Failure::Usage(msg)) => {
            say(&msg);
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            say(&msg);
            ExitCode::from(1)
        }
        Err(Failure::Told) => ExitCode::from(1),
    }
}

/// The last line, on stderr, which may be gone by now (a terminal closed:
/// SIGHUP stops the run cleanly, and then nothing reads): `eprintln!`
/// would panic there, after everything was committed.
fn say(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "sinkwatch: {}",
        sinkwatch::sanitize::line(msg)
    );
}
