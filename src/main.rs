//! `berth`: a runc-compatible command line over the berth runtime library.

mod cli;
mod commands;

use std::process::ExitCode;

fn main() -> ExitCode {
    // A usage error exits 1, as runc's do (clap's default is 2); --help and --version exit 0.
    let cli = match cli::parse() {
        Ok(cli::Invocation::Berth(cli)) => *cli,
        Ok(cli::Invocation::GenerateMan(dir)) => {
            return match commands::man::write_pages(&dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("berth: {e:#}");
                    ExitCode::from(1)
                }
            };
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    if let Err(e) = cli.global.init_logging() {
        eprintln!("berth: {e:#}");
        return ExitCode::from(1);
    }
    berth_runtime::timing::start();
    let log_to_file = cli.global.log.is_some();
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // The whole chain, once: "create container \"x\": mount proc on ...: EPERM: ...".
            let msg = format!("{e:#}");
            if log_to_file {
                // containerd's runc shim reads the error from the JSON log.
                berth_runtime::log_error!("{msg}");
            }
            eprintln!("berth: {msg}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
