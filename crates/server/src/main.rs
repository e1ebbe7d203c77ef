//! The `strata` binary: all of it lives in the library, see [`strata_server::cli`].

fn main() -> std::process::ExitCode {
    strata_server::cli::main()
}
