//! The `strata` binary: all of it lives in the library, see [`strata_server::cli`].

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    strata_server::cli::main()
}

/// Queries allocate and free tens of megabytes each. By default glibc returns freed
/// memory above 128 KiB to the OS at once and the next query faults it in again, page
/// by page (a fifth of a 24 h range query's time). Keep up to 256 MiB free instead, and
/// serve allocations under 32 MiB from the heap; the tsdb still trims explicitly after
/// each head cut, so ingest's peaks go back to the OS.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
