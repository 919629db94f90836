//! The `retort` CLI: train, distill, eval, bench, demo. Errors print as one line and exit 1.

mod args;
mod cmd;
mod output;

use clap::Parser;

fn main() {
    keep_freed_memory();
    let cli = args::Cli::parse();
    if let Err(e) = on_a_worker(|| cmd::run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Runs `f` on one of rayon's workers rather than beside them. A thread outside the pool that
/// hands each kernel to it sleeps while the workers compute, but between kernels its own
/// serial work shares the cores with workers still spinning for more: on a 2-core machine,
/// three busy threads. On a worker, the command's thread is one of the two.
fn on_a_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    // Room for the command as on the main thread (8 MiB, not a spawned thread's 2).
    match rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// Training allocates and frees the same few buffer sizes every step. glibc would hand buffers
/// over 128 KiB back to the kernel on free and fault fresh zeroed pages in on the next step
/// (measured 2026-11-24: 5% of an MLP step, 12% of a CNN step, whose convolutions then wrote
/// 80 MB of column matrices); keeping every buffer in the heap, however large, turns that into
/// reuse.
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
