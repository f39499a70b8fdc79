//! The file tools' behaviour inside the workspace.

use std::os::unix::fs::PermissionsExt;

use picoclaw_tools::FileLimits;
use serde_json::json;

use super::util::{err, ok, Fixture};

fn ten_lines() -> String {
    (1..=10).map(|i| format!("line{i}\n")).collect()
}

#[test]
fn write_creates_parents_and_read_returns_the_exact_content() {
    let f = Fixture::new();
    assert_eq!(
        f.call(
            "write_file",
            json!({"path": "notes/2024/a.md", "content": "héllo\n"})
        ),
        ok("wrote 7 bytes to notes/2024/a.md (created)")
    );
    assert_eq!(f.read("notes/2024/a.md"), "héllo\n");
    assert_eq!(
        f.call("read_file", json!({"path": "notes/2024/a.md"})),
        ok("héllo\n")
    );
    assert_eq!(
        f.call(
            "write_file",
            json!({"path": "./notes/2024/a.md", "content": ""})
        ),
        ok("wrote 0 bytes to ./notes/2024/a.md (replaced)")
    );
    assert_eq!(f.read("notes/2024/a.md"), "");
    assert_eq!(
        f.call("read_file", json!({"path": "notes/2024/a.md"})),
        ok("[empty file]")
    );
}

#[test]
fn writes_are_atomic_and_leave_no_temp_files_even_when_refused() {
    let f = Fixture::with_limits(FileLimits {
        max_write_bytes: 8,
        ..FileLimits::default()
    });
    f.write("keep.txt", "old");
    std::fs::set_permissions(f.ws_path("keep.txt"), PermissionsExt::from_mode(0o640)).unwrap();
    std::fs::create_dir(f.ws_path("dir")).unwrap();

    assert_eq!(
        f.call("write_file", json!({"path": "keep.txt", "content": "new"})),
        ok("wrote 3 bytes to keep.txt (replaced)")
    );
    assert_eq!(
        f.call(
            "write_file",
            json!({"path": "keep.txt", "content": "way too long"})
        ),
        err("content is 12 bytes; the limit is 8")
    );
    assert_eq!(
        f.call("write_file", json!({"path": "dir", "content": "x"})),
        err("dir is a directory")
    );
    assert_eq!(
        f.call("write_file", json!({"path": "dir/", "content": "x"})),
        err("dir/ ends with '/'; give a file path")
    );
    assert_eq!(f.read("keep.txt"), "new");
    let mode = std::fs::metadata(f.ws_path("keep.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(Fixture::names(&f.ws), vec!["dir", "keep.txt"]);
    assert_eq!(Fixture::names(&f.ws_path("dir")), Vec::<String>::new());
}

#[test]
fn read_pages_by_line_and_says_how_to_continue() {
    let f = Fixture::new();
    f.write("ten.txt", ten_lines());
    // Lines 5..10 are "line5\n".."line9\n" (6 bytes each) + "line10\n" (7).
    assert_eq!(
        f.call(
            "read_file",
            json!({"path": "ten.txt", "offset": 3, "limit": 2})
        ),
        ok("line3\nline4\n[lines 3-4 shown, 37 more bytes follow; continue with offset=5]")
    );
    assert_eq!(
        f.call("read_file", json!({"path": "ten.txt", "offset": "9"})),
        ok("line9\nline10\n")
    );
    assert_eq!(
        f.call("read_file", json!({"path": "ten.txt", "offset": 20})),
        err("offset 20 is past the end of ten.txt (10 lines)")
    );
    assert_eq!(
        f.call("read_file", json!({"path": "ten.txt", "limit": 0})),
        err("limit must be at least 1")
    );
}

#[test]
fn read_is_capped_at_a_line_boundary_with_a_visible_footer() {
    let f = Fixture::with_limits(FileLimits {
        max_read_bytes: 20,
        ..FileLimits::default()
    });
    f.write("five.txt", "0123456789\n".repeat(5));
    assert_eq!(
        f.call("read_file", json!({"path": "five.txt"})),
        ok("0123456789\n[cut at 20 bytes: lines 1-1 shown, 44 more bytes not shown; continue with offset=2]")
    );
    // One line longer than the cap: its start, cut on a character boundary.
    f.write("long.txt", format!("{}\nnext\n", "é".repeat(30)));
    assert_eq!(
        f.call("read_file", json!({"path": "long.txt"})),
        ok(&format!(
            "{}\n[line 1 is longer than 20 bytes; only its start is shown. 46 more bytes in the file]",
            "é".repeat(10)
        ))
    );
}

#[test]
fn binary_and_special_files_are_refused_politely() {
    let f = Fixture::new();
    f.write("img.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    assert_eq!(
        f.call("read_file", json!({"path": "img.png"})),
        err("img.png looks like a binary file (16 bytes); read_file only returns text")
    );
    std::fs::create_dir(f.ws_path("d")).unwrap();
    assert_eq!(
        f.call("read_file", json!({"path": "d"})),
        err("d is a directory; use list_dir")
    );
    // A FIFO would block a plain open forever; it must come back at once.
    let fifo = std::ffi::CString::new(f.ws_path("fifo").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    assert_eq!(
        f.call("read_file", json!({"path": "fifo"})),
        err("fifo is not a regular file")
    );
    assert_eq!(
        f.call("read_file", json!({"path": "missing.txt"})),
        err("no such file or directory: missing.txt")
    );
    f.write("latin1.txt", b"caf\xe9\n");
    assert_eq!(
        f.call("read_file", json!({"path": "latin1.txt"})),
        ok("[not valid UTF-8; invalid bytes shown as \u{FFFD}]\ncaf\u{FFFD}\n")
    );
}

#[test]
fn edit_replaces_a_unique_match_and_refuses_ambiguity() {
    let f = Fixture::new();
    f.write(
        "src/main.rs",
        "fn main() {\n    let x = 1;\n    let y = 1;\n}\n",
    );
    assert_eq!(
        f.call(
            "edit_file",
            json!({"path": "src/main.rs", "old_text": "let y = 1;", "new_text": "let y = 2;"})
        ),
        ok("edited src/main.rs: replaced 1 match at line 3 (10 bytes -> 10 bytes)")
    );
    assert_eq!(
        f.read("src/main.rs"),
        "fn main() {\n    let x = 1;\n    let y = 2;\n}\n"
    );

    let before = f.read("src/main.rs");
    assert_eq!(
        f.call("edit_file", json!({"path": "src/main.rs", "old_text": "let", "new_text": "const"})),
        err("old_text matches 2 places in src/main.rs; include more surrounding lines so it matches exactly once")
    );
    assert_eq!(
        f.call("edit_file", json!({"path": "src/main.rs", "old_text": "let z", "new_text": "x"})),
        err("old_text not found in src/main.rs; it must match exactly, including whitespace and indentation")
    );
    assert_eq!(
        f.call(
            "edit_file",
            json!({"path": "src/main.rs", "old_text": "", "new_text": "x"})
        ),
        err("old_text is empty; to create or overwrite a file use write_file")
    );
    assert_eq!(
        f.call(
            "edit_file",
            json!({"path": "src/nope.rs", "old_text": "a", "new_text": "b"})
        ),
        err("no such file: src/nope.rs (use write_file to create it)")
    );
    assert_eq!(
        f.call("edit_file", json!({"path": "src/main.rs", "old_text": "a"})),
        err("missing required argument 'new_text' (string)")
    );
    assert_eq!(f.read("src/main.rs"), before);
    assert_eq!(Fixture::names(&f.ws_path("src")), vec!["main.rs"]);
}

#[test]
fn list_shows_sorted_typed_entries_and_caps_them() {
    let f = Fixture::with_limits(FileLimits {
        max_list_entries: 3,
        ..FileLimits::default()
    });
    f.write("b.txt", "12345");
    f.write("a.txt", "");
    std::fs::create_dir(f.ws_path("c")).unwrap();
    std::os::unix::fs::symlink("a.txt", f.ws_path("d")).unwrap();
    f.write("e", "x");
    assert_eq!(
        f.call("list_dir", json!({})),
        ok("file a.txt (0 B)\nfile b.txt (5 B)\ndir  c/\n[2 more entries not shown]")
    );
    assert_eq!(
        f.call("list_dir", json!({"path": "c"})),
        ok("[empty directory]")
    );
    assert_eq!(
        f.call("list_dir", json!({"path": "b.txt"})),
        err("a component of the path is not a directory: b.txt")
    );

    let g = Fixture::new();
    g.write("sub/x", "abc");
    std::os::unix::fs::symlink("x", g.ws_path("sub/y")).unwrap();
    assert_eq!(
        g.call("list_dir", json!({"path": "sub"})),
        ok("file x (3 B)\nlink y -> x\n")
    );
}
