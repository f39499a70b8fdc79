//! Pictures in requests. The bytes are base64-encoded straight into the
//! request body as it is serialised (serde_json's `collect_str` writes a
//! `Display` through its escaper without building the string first), so a
//! picture costs its own bytes plus its share of the body, not a third copy.

use std::fmt;

use serde::{Serialize, Serializer};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 of the bytes (RFC 4648 §4).
pub(crate) struct Base64<'a>(pub &'a [u8]);

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 3 KiB of input per 4 KiB of output, from a stack buffer.
        let mut out = [0u8; 4096];
        for chunk in self.0.chunks(3072) {
            let mut n = 0;
            for group in chunk.chunks(3) {
                let b = [
                    group[0],
                    group.get(1).copied().unwrap_or(0),
                    group.get(2).copied().unwrap_or(0),
                ];
                let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                out[n] = ALPHABET[(v >> 18) as usize & 63];
                out[n + 1] = ALPHABET[(v >> 12) as usize & 63];
                out[n + 2] = if group.len() > 1 {
                    ALPHABET[(v >> 6) as usize & 63]
                } else {
                    b'='
                };
                out[n + 3] = if group.len() > 2 {
                    ALPHABET[v as usize & 63]
                } else {
                    b'='
                };
                n += 4;
            }
            // The alphabet is ASCII, so this never fails.
            f.write_str(std::str::from_utf8(&out[..n]).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The request body as JSON. With pictures in it the body is megabytes:
/// it is measured first (a pass that only counts bytes) and written into a
/// buffer of exactly that size, so no grown-and-copied buffers stay behind
/// in the heap (measured: a 5 MB photo turn peaked 16 MiB above a plain
/// turn with `to_vec`). Without pictures, `to_vec` as usual.
pub(crate) fn body<T: Serialize>(wire: &T, pictures: bool) -> serde_json::Result<Vec<u8>> {
    if !pictures {
        return serde_json::to_vec(wire);
    }
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    serde_json::to_writer(&mut n, wire)?;
    let mut out = Vec::with_capacity(n.0);
    serde_json::to_writer(&mut out, wire)?;
    Ok(out)
}

/// Whether a request will carry pictures (only vision models get them).
pub(crate) fn has_pictures(vision: bool, messages: &[picoclaw_core::ChatMessage]) -> bool {
    vision && messages.iter().any(|m| !m.images.is_empty())
}

/// `data:<type>;base64,<bytes>`: the OpenAI `image_url` form.
pub(crate) struct DataUrl<'a>(pub &'a picoclaw_core::Image);

impl fmt::Display for DataUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "data:{};base64,{}",
            self.0.media_type,
            Base64(&self.0.data)
        )
    }
}

impl Serialize for DataUrl<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_body_is_the_same_json_in_a_buffer_of_exactly_its_size() {
        let wire = serde_json::json!({"data": Base64(&[7u8; 10_000]).to_string(), "n": 1});
        let sized = body(&wire, true).unwrap();
        assert_eq!(sized, serde_json::to_vec(&wire).unwrap());
        assert_eq!(sized.capacity(), sized.len());
    }

    #[test]
    fn base64_matches_the_rfc_test_vectors_and_long_inputs_cross_chunks_cleanly() {
        for (raw, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(Base64(raw.as_bytes()).to_string(), want);
        }
        let long: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let enc = Base64(&long).to_string();
        assert_eq!(enc.len(), 10_000_usize.div_ceil(3) * 4);
        // Chunk edges (every 3072 bytes) must not insert padding.
        assert_eq!(enc.matches('=').count(), 2);
        assert_eq!(
            serde_json::to_string(&Base64(b"\xff\xfe")).unwrap(),
            "\"//4=\""
        );
    }
}
