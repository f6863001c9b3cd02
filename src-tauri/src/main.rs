// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    limit_malloc_arenas();
    portolan_desktop::run()
}

/// glibc gives every thread that allocates its own arena (up to 8 per core) and returns little
/// of it: across ten 4,000-cell experiments the app's memory grew by 15 MB a run without ever
/// levelling off. Two arenas keep it flat after the first runs at no measurable cost
/// (`bench/experiment-matrix.sh`).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called first thing in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
