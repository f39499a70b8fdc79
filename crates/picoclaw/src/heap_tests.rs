use super::*;

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: the block holds n bytes.
        unsafe { p.add(i).write(seed.wrapping_add(i as u8)) };
    }
}

fn holds(p: *mut u8, n: usize, seed: u8) -> bool {
    // SAFETY: the block holds n bytes.
    (0..n).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add(i as u8))
}

fn is_mapped(p: *mut u8) -> bool {
    let page = (p as usize & !(PAGE - 1)) as *mut libc::c_void;
    let mut vec = 0u8;
    // SAFETY: mincore only reports; ENOMEM means "not mapped".
    unsafe { libc::mincore(page, PAGE, &mut vec) == 0 }
}

#[test]
fn blocks_of_every_size_are_aligned_writable_and_report_their_size() {
    for size in [
        0,
        1,
        15,
        16,
        17,
        100,
        4096,
        65_536,
        MMAP_THRESHOLD - 1,
        MMAP_THRESHOLD,
        1 << 20,
    ] {
        // SAFETY: 16 is a power of two.
        let p = unsafe { alloc(size, 16) };
        assert!(!p.is_null(), "size {size}");
        assert_eq!(p as usize % 16, 0, "size {size}");
        fill(p, size, 7);
        assert!(holds(p, size, 7), "size {size}");
        // SAFETY: p came from alloc.
        assert_eq!(unsafe { size_of(p) }, size);
        // SAFETY: p came from alloc.
        assert_eq!(unsafe { is_mapping(p) }, size >= MMAP_THRESHOLD);
        // SAFETY: p came from alloc.
        unsafe { free(p) };
    }
}

#[test]
fn over_aligned_blocks_honour_the_alignment() {
    for align in [32, 64, 4096] {
        for size in [1, 1000, MMAP_THRESHOLD + 5] {
            // SAFETY: align is a power of two.
            let p = unsafe { alloc(size, align) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "align {align} size {size}");
            fill(p, size, 3);
            // Moving an over-aligned block keeps its bytes.
            // SAFETY: p came from alloc.
            let q = unsafe { realloc(p, size * 2) };
            assert!(holds(q, size, 3), "align {align} size {size}");
            // SAFETY: q came from realloc.
            unsafe { free(q) };
        }
    }
}

#[test]
fn realloc_keeps_the_bytes_across_the_mapping_threshold_both_ways() {
    // SAFETY: every pointer below came from this heap.
    unsafe {
        let p = alloc(1000, 16);
        fill(p, 1000, 11);
        let p = realloc(p, 5000);
        assert!(holds(p, 1000, 11));
        fill(p, 5000, 12);
        let p = realloc(p, MMAP_THRESHOLD * 3);
        assert!(holds(p, 5000, 12));
        assert_eq!(size_of(p), MMAP_THRESHOLD * 3);
        fill(p, MMAP_THRESHOLD * 3, 13);
        // Mapping to a bigger mapping (mremap).
        let p = realloc(p, MMAP_THRESHOLD * 8);
        assert!(holds(p, MMAP_THRESHOLD * 3, 13));
        // Back under the threshold into the arena.
        let p = realloc(p, 300);
        assert!(holds(p, 300, 13));
        assert_eq!(size_of(p), 300);
        let p = realloc(p, 10);
        assert!(holds(p, 10, 13));
        free(p);
        let fresh = realloc(ptr::null_mut(), 40);
        assert!(!fresh.is_null());
        free(fresh);
        free(ptr::null_mut());
    }
}

/// Checked in a child process running only this test: in the shared test
/// process another thread's new stack or mapping may land on the freed
/// range at once and look like a block that was never unmapped.
#[test]
fn a_freed_large_block_is_given_back_to_the_kernel() {
    const NAME: &str = "heap::tests::a_freed_large_block_is_given_back_to_the_kernel";
    if std::env::var_os("PICOCLAW_HEAP_TEST_CHILD").is_none() {
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", NAME, "--test-threads=1"])
            .env("PICOCLAW_HEAP_TEST_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // SAFETY: 16 is a power of two.
    let p = unsafe { alloc(4 << 20, 16) };
    fill(p, 4 << 20, 1);
    let last_page = p.wrapping_add((4 << 20) - 1);
    assert!(is_mapped(p) && is_mapped(last_page));
    // SAFETY: p came from alloc.
    assert!(unsafe { is_mapping(p) });
    // SAFETY: p came from alloc.
    unsafe { free(p) };
    assert!(!is_mapped(p) && !is_mapped(last_page));
}

#[test]
fn blocks_allocated_on_one_thread_can_be_freed_on_another() {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, usize, u8)>(64);
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        for (addr, size, seed) in rx {
            let p = addr as *mut u8;
            assert!(holds(p, size, seed));
            // SAFETY: the producer allocated it and gave it up.
            unsafe { free(p) };
            n += 1;
        }
        n
    });
    let producers: Vec<_> = (0..3u8)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..3000usize {
                    let size = [24, 200, 3000, 40_000, MMAP_THRESHOLD + 1][i % 5];
                    // SAFETY: 16 is a power of two.
                    let p = unsafe { alloc(size, 16) };
                    let seed = t.wrapping_mul(31).wrapping_add(i as u8);
                    fill(p, size, seed);
                    tx.send((p as usize, size, seed)).unwrap();
                    // Some churn on the producer's side too.
                    // SAFETY: allocated and freed here.
                    unsafe { free(alloc(i % 700, 16)) };
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 9000);
}
