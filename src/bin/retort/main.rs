//! The `retort` CLI: train, distill, eval, bench, demo. Errors print as one line and exit 1.

mod args;
mod cmd;
mod output;

use clap::Parser;

fn main() {
    keep_freed_memory();
    let cli = args::Cli::parse();
    if let Err(e) = cmd::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Training allocates and frees the same few buffer sizes every step. glibc would hand buffers
/// over 128 KiB back to the kernel on free and fault fresh zeroed pages in on the next step
/// (5% of an MLP step, 12% of a CNN step with its 80 MB column matrices); keeping every
/// buffer in the heap, however large, turns that into reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_MAX: i32 = -4;
        // SAFETY: mallopt only sets allocator parameters; called before any other thread exists.
        unsafe {
            mallopt(M_MMAP_MAX, 0);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}
