fn main() -> std::process::ExitCode {
    strata_server::cli::main()
}
