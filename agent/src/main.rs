//! The `netagent` command line: parse and dispatch; each subcommand lives
//! in `commands/` and its error knows the exit status.

mod commands;

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "netagent",
    version,
    about = "Virtual networks for VM hosts: bridges, NAT, routing, isolation, DHCP and DNS from one TOML file"
)]
struct Cli {
    #[command(subcommand)]
    cmd: commands::Cmd,
}

fn main() -> ExitCode {
    netagent::util::sys::one_arena();
    // The kernel starts the appliance's /init with no arguments as PID 1.
    if std::process::id() == 1 {
        netagent::appliance::init::run();
    }
    match Cli::parse().cmd.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.exit_code())
        }
    }
}
