//! Paths that try to leave the workspace are refused, and the file outside
//! is neither read nor written nor created.

use std::os::unix::fs::symlink;

use serde_json::json;

use super::util::{err, ok, Fixture};

const SECRET: &str = "outside secret";

fn fixture_with_secret() -> Fixture {
    let f = Fixture::new();
    std::fs::write(f.outside.join("secret"), SECRET).unwrap();
    f
}

fn assert_secret_untouched(f: &Fixture) {
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret")).unwrap(),
        SECRET
    );
    assert_eq!(Fixture::names(&f.outside), vec!["secret"]);
}

#[test]
fn parent_dir_escapes_are_refused_for_every_tool() {
    let f = fixture_with_secret();
    for path in ["../outside/secret", "a/../../outside/secret"] {
        let refused = err(&format!("path escapes the workspace: {path}"));
        assert_eq!(f.call("read_file", json!({"path": path})), refused);
        assert_eq!(
            f.call("write_file", json!({"path": path, "content": "pwned"})),
            refused
        );
        assert_eq!(
            f.call(
                "edit_file",
                json!({"path": path, "old_text": "outside", "new_text": "pwned"})
            ),
            refused
        );
    }
    assert_eq!(
        f.call("list_dir", json!({"path": ".."})),
        err("path escapes the workspace: ..")
    );
    assert_secret_untouched(&f);
    assert_eq!(Fixture::names(&f.ws), Vec::<String>::new());
}

#[test]
fn absolute_paths_outside_the_workspace_are_refused() {
    let f = fixture_with_secret();
    assert_eq!(
        f.call("read_file", json!({"path": "/etc/passwd"})),
        err("path is outside the workspace: /etc/passwd (paths are relative to the workspace)")
    );
    let target = f.outside.join("new");
    let out = f.call(
        "write_file",
        json!({"path": target.to_str().unwrap(), "content": "x"}),
    );
    assert!(out.is_error, "{out:?}");
    assert!(out.content.starts_with("path is outside the workspace: /"));
    assert!(!target.exists());
    assert_secret_untouched(&f);
}

#[test]
fn absolute_paths_inside_the_workspace_are_accepted() {
    let f = Fixture::new();
    let abs = f.ws_path("sub/abs.txt");
    let abs = abs.to_str().unwrap();
    assert_eq!(
        f.call("write_file", json!({"path": abs, "content": "hello"})),
        ok(&format!("wrote 5 bytes to {abs} (created)"))
    );
    assert_eq!(f.read("sub/abs.txt"), "hello");
    assert_eq!(f.call("read_file", json!({"path": abs})), ok("hello"));
}

#[test]
fn a_symlink_to_etc_inside_the_workspace_leads_nowhere() {
    let f = fixture_with_secret();
    symlink("/etc", f.ws_path("etc")).unwrap();
    symlink(&f.outside, f.ws_path("out")).unwrap();
    let escapes = |p: &str| {
        err(&format!(
            "path escapes the workspace: {p} (through '..' or a symlink; symlinks with absolute targets are refused too)"
        ))
    };
    assert_eq!(
        f.call("read_file", json!({"path": "etc/passwd"})),
        escapes("etc/passwd")
    );
    assert_eq!(f.call("list_dir", json!({"path": "etc"})), escapes("etc"));
    assert_eq!(
        f.call(
            "write_file",
            json!({"path": "out/secret", "content": "pwned"})
        ),
        escapes("out/secret")
    );
    assert_eq!(
        f.call(
            "write_file",
            json!({"path": "out/new/file", "content": "pwned"})
        ),
        escapes("out/new/file")
    );
    assert_eq!(
        f.call(
            "edit_file",
            json!({"path": "out/secret", "old_text": "outside", "new_text": "x"})
        ),
        escapes("out/secret")
    );
    assert_secret_untouched(&f);
}

#[test]
fn dotdot_after_a_symlinked_dir_cannot_climb_out() {
    // Lexically `link/../secret` stays inside; physically it is
    // `outside/sub/../secret`. Only the kernel's resolution sees that.
    let f = fixture_with_secret();
    std::fs::create_dir(f.outside.join("sub")).unwrap();
    symlink(f.outside.join("sub"), f.ws_path("abs_link")).unwrap();
    symlink("../outside/sub", f.ws_path("rel_link")).unwrap();
    for link in ["abs_link", "rel_link"] {
        let path = format!("{link}/../secret");
        let out = f.call("read_file", json!({"path": path}));
        assert!(out.is_error, "{out:?}");
        assert!(
            out.content.starts_with("path escapes the workspace"),
            "{out:?}"
        );
        let out = f.call("write_file", json!({"path": path, "content": "pwned"}));
        assert!(
            out.content.starts_with("path escapes the workspace"),
            "{out:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret")).unwrap(),
        SECRET
    );
    assert_eq!(Fixture::names(&f.outside), vec!["secret", "sub"]);
}

#[test]
fn write_through_a_dangling_symlink_does_not_create_the_outside_target() {
    let f = fixture_with_secret();
    let target = f.outside.join("created");
    symlink(&target, f.ws_path("abs_dangling")).unwrap();
    symlink("../outside/created", f.ws_path("rel_dangling")).unwrap();
    for link in ["abs_dangling", "rel_dangling"] {
        let out = f.call("write_file", json!({"path": link, "content": "pwned"}));
        assert!(out.is_error, "{out:?}");
        assert!(
            out.content
                .starts_with(&format!("{link} is a symlink (to ")),
            "{out:?}"
        );
        let out = f.call(
            "edit_file",
            json!({"path": link, "old_text": "a", "new_text": "b"}),
        );
        assert!(
            out.content.starts_with(&format!("{link} is a symlink")),
            "{out:?}"
        );
        assert!(std::fs::symlink_metadata(f.ws_path(link))
            .unwrap()
            .is_symlink());
    }
    assert!(!target.exists());
    assert_secret_untouched(&f);
}

#[test]
fn a_symlink_to_an_outside_file_is_neither_read_nor_overwritten() {
    let f = fixture_with_secret();
    symlink(f.outside.join("secret"), f.ws_path("s")).unwrap();
    let out = f.call("read_file", json!({"path": "s"}));
    assert!(out.is_error && !out.content.contains(SECRET), "{out:?}");
    let out = f.call("write_file", json!({"path": "s", "content": "pwned"}));
    assert!(out.is_error, "{out:?}");
    assert_secret_untouched(&f);
    // list_dir shows the link without following it.
    let listing = f.call("list_dir", json!({}));
    assert_eq!(
        listing,
        ok(&format!(
            "link s -> {}\n",
            f.outside.join("secret").display()
        ))
    );
}

#[test]
fn writing_over_a_hard_link_leaves_the_outside_inode_alone() {
    // Path checks cannot see hard links (out of scope; the kernel sandbox
    // covers links made by commands). Writes replace the directory entry,
    // so the outside file keeps its content.
    let f = fixture_with_secret();
    std::fs::hard_link(f.outside.join("secret"), f.ws_path("hard")).unwrap();
    assert_eq!(
        f.call("write_file", json!({"path": "hard", "content": "new"})),
        ok("wrote 3 bytes to hard (replaced)")
    );
    assert_eq!(
        f.call(
            "edit_file",
            json!({"path": "hard", "old_text": "new", "new_text": "newer"})
        ),
        ok("edited hard: replaced 1 match at line 1 (3 bytes -> 5 bytes)")
    );
    assert_eq!(f.read("hard"), "newer");
    assert_secret_untouched(&f);
}

#[test]
fn nul_bytes_and_oversized_paths_are_refused_without_panicking() {
    let f = Fixture::new();
    assert_eq!(
        f.call("read_file", json!({"path": "a\u{0}b"})),
        err("path contains a NUL byte")
    );
    assert_eq!(
        f.call("write_file", json!({"path": "x\u{0}", "content": "c"})),
        err("path contains a NUL byte")
    );
    let huge = "a/".repeat(1 << 20);
    assert_eq!(
        f.call("list_dir", json!({"path": huge})),
        err("path is too long (2097152 bytes; the limit is 4096)")
    );
    let long_name = "n".repeat(300);
    let out = f.call("write_file", json!({"path": long_name, "content": "c"}));
    assert!(
        out.is_error
            && out
                .content
                .starts_with("a file name in the path is too long: nnn"),
        "{out:?}"
    );
    assert_eq!(Fixture::names(&f.ws), Vec::<String>::new());
}

/// Swaps two directory entries atomically (`renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &std::path::Path, b: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
    let b = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn swapping_a_directory_for_an_outside_symlink_mid_call_never_escapes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    // `d` flips between a real directory and a symlink to `outside`, both
    // holding `sub/`. A check-then-open implementation sometimes resolves
    // `d/sub` inside and then opens it outside; the kernel's
    // beneath-resolution must win every time.
    let f = fixture_with_secret();
    std::fs::create_dir_all(f.ws_path("d/sub")).unwrap();
    std::fs::create_dir(f.outside.join("sub")).unwrap();
    std::fs::write(f.outside.join("sub/secret"), SECRET).unwrap();
    symlink(&f.outside, f.ws_path("swap")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = Arc::clone(&stop);
        let (d, swap) = (f.ws_path("d"), f.ws_path("swap"));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) && exchange(&d, &swap).is_ok() {
                swaps += 1;
            }
            swaps
        })
    };
    // 2000 rounds: enough that the racy fallback resolver fails this test
    // reliably on a 2-core machine.
    for _ in 0..2000 {
        let _ = f.call("write_file", json!({"path": "d/sub/f", "content": "pwned"}));
        let _ = f.call(
            "write_file",
            json!({"path": "d/sub/new/f", "content": "pwned"}),
        );
        let read = f.call("read_file", json!({"path": "d/sub/secret"}));
        assert!(!read.content.contains(SECRET), "{read:?}");
        let listing = f.call("list_dir", json!({"path": "d/sub"}));
        assert!(!listing.content.contains("secret"), "{listing:?}");
        let edit = f.call(
            "edit_file",
            json!({"path": "d/sub/secret", "old_text": "outside", "new_text": "pwned"}),
        );
        assert!(edit.is_error, "{edit:?}");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(swapper.join().unwrap() > 0, "the swapper never ran");
    assert_eq!(Fixture::names(&f.outside), vec!["secret", "sub"]);
    assert_eq!(Fixture::names(&f.outside.join("sub")), vec!["secret"]);
    assert_eq!(
        std::fs::read_to_string(f.outside.join("sub/secret")).unwrap(),
        SECRET
    );
}
