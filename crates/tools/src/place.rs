//! Files picoclaw itself moves in and out of the workspace: chat downloads
//! saved under `inbox/`, and files `send_file` hands to the chat. The same
//! confinement as the file tools (see `beneath`): nothing resolves outside
//! the workspace, new names are created `O_EXCL` in a directory opened
//! beneath it, and a final name that is a symlink is never followed.
//!
//! The daemon does this as root while the tools run as the tool user, so a
//! downloaded file is handed to that user (`owner`) and a file to upload is
//! opened with the same refusals the model's own reads get.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::beneath::{describe, relative, Root};
use crate::sys::{self, Kind};

/// Longest file name [`safe_name`] returns, in bytes (ext4 allows 255).
pub const MAX_NAME: usize = 100;

/// A name from a chat (a document's file name, which the sender's app
/// chose) made safe to create in one directory: only its last path
/// component, no control characters, no leading dots (no hidden files, no
/// `..`), no characters shells and other systems trip on, at most
/// [`MAX_NAME`] bytes with the extension kept. Empty results become
/// `fallback`.
pub fn safe_name(raw: &str, fallback: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out = String::with_capacity(last.len());
    for c in last.chars() {
        let keep = match c {
            c if c.is_control() => None,
            ':' | '*' | '?' | '"' | '<' | '>' | '|' | '$' | '`' => Some('_'),
            c if c.is_whitespace() => Some('_'),
            c => Some(c),
        };
        if let Some(k) = keep {
            out.push(k);
        }
    }
    let trimmed = out
        .trim_start_matches(['.', '-', '_'])
        .trim_end_matches(['.', ' ']);
    let name = if trimmed.is_empty() {
        fallback
    } else {
        trimmed
    };
    cap_name(name)
}

/// Cuts `name` to [`MAX_NAME`] bytes at a character boundary, keeping a
/// short extension.
fn cap_name(name: &str) -> String {
    if name.len() <= MAX_NAME {
        return name.to_string();
    }
    let ext = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 && i > 0 => &name[i..],
        _ => "",
    };
    let mut stem_end = MAX_NAME - ext.len();
    while !name.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{ext}", &name[..stem_end])
}

/// `name` with ` (2)`-style numbering before the extension: `a.pdf`,
/// `a-2.pdf`, `a-3.pdf`... for the `n`th file of one message that shares a
/// name (n from 1).
pub fn numbered(name: &str, n: usize) -> String {
    if n <= 1 {
        return name.to_string();
    }
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{}-{n}{}", &name[..i], &name[i..]),
        _ => format!("{name}-{n}"),
    }
}

/// The size of the regular file `dir/name` in the workspace, if there is
/// one (a symlink there counts as none).
pub fn existing(workspace: &Path, dir: &str, name: &str) -> Option<u64> {
    let root = Root::open(workspace).ok()?;
    let dir = root
        .open_at(Path::new(dir), libc::O_RDONLY | libc::O_DIRECTORY)
        .ok()?;
    let name = sys::cstring(OsStr::new(name)).ok()?;
    match sys::lstat_at(&dir, &name) {
        Ok(Some(m)) if m.kind == Kind::File => Some(m.size),
        _ => None,
    }
}

/// Saves a file as `dir/name` in the workspace: `fill` writes it into a
/// hidden temporary file in `dir` (created with missing parents), which
/// then replaces `dir/name` by rename, so a reader never sees a partial
/// file and a crash leaves only a stray `.part`. With `owner`, the
/// directory and file are handed to that uid/gid (the tool user). Returns
/// what `fill` returned.
pub fn save<T, E: From<io::Error>>(
    workspace: &Path,
    dir: &str,
    name: &str,
    owner: Option<(u32, u32)>,
    fill: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, E> {
    let root = Root::open(workspace)?;
    let dir_fd = root.ensure_dir(Path::new(dir))?;
    if let Some((uid, gid)) = owner {
        chown(&dir_fd, uid, gid)?;
    }
    let final_name = sys::cstring(OsStr::new(name))?;
    let tmp = sys::cstring(OsStr::new(&format!(".{name}.part")))?;
    // A .part left by a crash is ours to replace.
    match sys::unlinkat(&dir_fd, &tmp) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => return Err(e.into()),
        _ => {}
    }
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
    let fd = sys::openat(dir_fd.as_raw_fd(), &tmp, flags, 0o644)?;
    if let Some((uid, gid)) = owner {
        chown(&fd, uid, gid)?;
    }
    let mut file = File::from(fd);
    let filled = fill(&mut file);
    let done = filled.and_then(|out| {
        file.sync_all()?;
        sys::renameat(&dir_fd, &tmp, &final_name)?;
        Ok(out)
    });
    if done.is_err() {
        let _ = sys::unlinkat(&dir_fd, &tmp);
    }
    done
}

fn chown(fd: &OwnedFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: fchown on a valid fd with integer ids has no memory effects.
    let r = unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the regular file `raw` (as the model wrote it) in the workspace
/// for reading: refused outside it, through escaping symlinks, or when it
/// is not a regular file, with the reason as a sentence for the model.
/// Returns the file, its size and its path relative to the workspace.
pub fn open_regular(workspace: &Path, raw: &str) -> Result<(File, u64, String), String> {
    let rel = relative(workspace, raw)?;
    let root = Root::open(workspace).map_err(|e| format!("cannot open the workspace: {e}"))?;
    let fd = root
        .open_at(&rel, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .map_err(|e| describe(&e, raw))?;
    let meta = sys::fstat(&fd).map_err(|e| describe(&e, raw))?;
    match meta.kind {
        Kind::File => {}
        Kind::Dir => return Err(format!("{raw} is a directory, not a file")),
        _ => return Err(format!("{raw} is not a regular file")),
    }
    let rel = rel.to_string_lossy().trim_start_matches("./").to_string();
    Ok((File::from(fd), meta.size, rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn names_from_chats_lose_paths_hidden_dots_and_odd_characters() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\boot.ini", "boot.ini"),
            ("/etc/shadow", "shadow"),
            (".bashrc", "bashrc"),
            ("...", "file"),
            ("..", "file"),
            ("", "file"),
            ("a/b/", "file"),
            ("my report (final).pdf", "my_report_(final).pdf"),
            ("x\u{0}y\nz.txt", "xyz.txt"),
            ("$(rm -rf ~).sh", "(rm_-rf_~).sh"),
            ("-rf", "rf"),
            ("Überweisung März.pdf", "Überweisung_März.pdf"),
        ];
        for (raw, want) in cases {
            assert_eq!(safe_name(raw, "file"), want, "{raw:?}");
        }
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension_and_whole_characters() {
        let long = format!("{}.pdf", "é".repeat(80));
        let safe = safe_name(&long, "file");
        assert!(safe.len() <= MAX_NAME, "{}", safe.len());
        assert!(safe.ends_with("é.pdf"), "{safe}");
        assert_eq!(numbered("a.pdf", 1), "a.pdf");
        assert_eq!(numbered("a.pdf", 3), "a-3.pdf");
        assert_eq!(numbered("README", 2), "README-2");
    }

    fn workspace(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("picoclaw-place-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p.canonicalize().unwrap()
    }

    #[test]
    fn a_save_appears_whole_under_its_name_and_a_failed_one_leaves_nothing() {
        let ws = workspace("save");
        let n = save::<_, io::Error>(&ws, "inbox", "a.txt", None, |f| {
            f.write_all(b"hello")?;
            Ok(5u64)
        })
        .unwrap();
        assert_eq!(n, 5);
        assert_eq!(
            std::fs::read_to_string(ws.join("inbox/a.txt")).unwrap(),
            "hello"
        );
        assert_eq!(existing(&ws, "inbox", "a.txt"), Some(5));
        let failed = save::<(), io::Error>(&ws, "inbox", "b.txt", None, |f| {
            f.write_all(b"part")?;
            Err(io::Error::other("network dropped"))
        });
        assert!(failed.is_err());
        let names: Vec<_> = std::fs::read_dir(ws.join("inbox"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["a.txt"]);
        std::fs::remove_dir_all(&ws).unwrap();
    }

    #[test]
    fn saving_through_a_symlinked_inbox_is_refused() {
        let ws = workspace("symlinked");
        let outside = workspace("symlinked-outside");
        std::os::unix::fs::symlink(&outside, ws.join("inbox")).unwrap();
        let r = save::<(), io::Error>(&ws, "inbox", "x", None, |_| Ok(()));
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::remove_dir_all(&ws).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn uploads_open_only_regular_files_inside_the_workspace() {
        let ws = workspace("open");
        std::fs::write(ws.join("f.txt"), "data").unwrap();
        std::fs::create_dir(ws.join("d")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.join("link")).unwrap();
        let (mut f, len, rel) = open_regular(&ws, "./f.txt").unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), len, rel.as_str()), ("data", 4, "f.txt"));
        assert_eq!(
            open_regular(&ws, "../x").unwrap_err(),
            "path escapes the workspace: ../x"
        );
        assert_eq!(
            open_regular(&ws, "link").unwrap_err(),
            "too many symlinks, or a symlink where none is allowed: link"
        );
        assert_eq!(
            open_regular(&ws, "d").unwrap_err(),
            "d is a directory, not a file"
        );
        assert_eq!(
            open_regular(&ws, "nope").unwrap_err(),
            "no such file or directory: nope"
        );
        std::fs::remove_dir_all(&ws).unwrap();
    }
}
