//! Handing freed memory back to the kernel. Reading a config is the
//! agent's one big burst of allocation (the TOML parser holds every token
//! of the file and a spanned tree of it at once: about 3 MB for a file
//! with a thousand names), and the C allocator keeps what is freed for
//! later; without this the burst would stay resident for the agent's life.

/// Return the allocator's free memory to the kernel.
pub fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One allocator arena for every thread. The agent's threads besides the
/// runtime's are the netlink thread and the blocking pool's (an `nft`
/// call now and then), and each would otherwise get an arena of its own
/// that stays resident (132 KiB apiece, measured) for no contention worth
/// avoiding.
pub fn one_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // Blocks of 128 KiB and more are mapped on their own and unmapped
        // when freed, always: by default the threshold rises to the size
        // of the largest such block freed (a kernel dump, a batch buffer),
        // and later blocks that size then come from the heap, where what
        // is freed stays resident between the blocks still in use.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
