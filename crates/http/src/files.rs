//! Files over HTTP without holding them in memory: uploads whose body is
//! streamed from a reader (multipart bodies built around a file on disk)
//! and downloads written straight to a writer, capped.

use std::io::{Read, Write};
use std::time::Duration;

use crate::{classify, classify_io, Client, HttpError, Response};

/// Most bytes of an error answer kept when a download is refused.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// What [`Client::download`] got.
#[derive(Debug)]
pub enum Download {
    /// A 2xx answer; its body, this many bytes, went to the writer.
    Saved(u64),
    /// Any other status, with (the start of) its body, nothing written.
    Refused(Response),
}

impl Client {
    /// POSTs exactly `len` bytes read from `body` with `content_type`.
    /// The length goes in `content-length` (no chunked encoding: some
    /// servers refuse it for uploads), and the body is sent as it is read.
    pub fn post_reader(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &mut dyn Read,
        len: u64,
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let mut req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout.unwrap_or(self.timeout)))
            .build()
            .header("content-type", content_type)
            .header("content-length", len.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut exact = body.take(len);
        self.finish(req.send(ureq::SendBody::from_reader(&mut exact)))
    }

    /// GETs `url` into `out` in 16 KiB chunks, refusing a body over `max`
    /// bytes ([`HttpError::TooLarge`], whatever was written is the caller's
    /// to discard). An announced `content-length` over `max` is refused
    /// before reading anything.
    pub fn download(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        max: u64,
        out: &mut dyn Write,
        timeout: Option<Duration>,
    ) -> Result<Download, HttpError> {
        let mut req = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout.unwrap_or(self.timeout)))
            .build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.call().map_err(classify)?;
        let status = resp.status().as_u16();
        let announced = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = resp.body_mut().as_reader();
        if !(200..300).contains(&status) {
            let mut kept = Vec::new();
            (&mut body)
                .take(ERROR_BODY_LIMIT)
                .read_to_end(&mut kept)
                .map_err(|e| classify_io(&e))?;
            return Ok(Download::Refused(Response {
                status,
                retry_after: None,
                headers: Vec::new(),
                body: kept,
            }));
        }
        if announced.is_some_and(|n| n > max) {
            return Err(HttpError::TooLarge(max));
        }
        let mut chunk = vec![0u8; 16 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = body.read(&mut chunk).map_err(|e| classify_io(&e))?;
            if n == 0 {
                return Ok(Download::Saved(total));
            }
            total += n as u64;
            if total > max {
                return Err(HttpError::TooLarge(max));
            }
            out.write_all(&chunk[..n])
                .map_err(|e| HttpError::Connection(format!("writing the download: {e}")))?;
        }
    }
}

/// A `multipart/form-data` body (RFC 7578) of text fields and one file,
/// read from disk as it is sent: only the part headers are in memory.
#[derive(Debug)]
pub struct Multipart {
    boundary: String,
    head: Vec<u8>,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart::new()
    }
}

impl Multipart {
    pub fn new() -> Multipart {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Unguessable enough that a file cannot contain it by accident; a
        // file made to contain it only breaks its own upload.
        let mix = t ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Multipart {
            boundary: format!("picoclaw-{mix:016x}{n:04x}"),
            head: Vec::new(),
        }
    }

    /// The `content-type` header value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Adds a text field.
    pub fn text(mut self, name: &str, value: &str) -> Multipart {
        let part = format!(
            "--{}\r\ncontent-disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
            self.boundary,
            quote(name)
        );
        self.head.extend_from_slice(part.as_bytes());
        self
    }

    /// Ends the body with one file part of `len` bytes from `file`: the
    /// whole body as a reader, and its exact length.
    pub fn file<'a>(
        mut self,
        field: &str,
        filename: &str,
        mime: &str,
        file: &'a mut dyn Read,
        len: u64,
    ) -> (impl Read + 'a, u64) {
        let part = format!(
            "--{}\r\ncontent-disposition: form-data; name=\"{}\"; filename=\"{}\"\r\ncontent-type: {mime}\r\n\r\n",
            self.boundary,
            quote(field),
            quote(filename)
        );
        self.head.extend_from_slice(part.as_bytes());
        let tail = format!("\r\n--{}--\r\n", self.boundary).into_bytes();
        let total = self.head.len() as u64 + len + tail.len() as u64;
        let body = std::io::Cursor::new(self.head)
            .chain(file.take(len))
            .chain(std::io::Cursor::new(tail));
        (body, total)
    }
}

/// The `content-type` for a file from its name's extension (uploads; the
/// servers picoclaw talks to mostly sniff the bytes anyway).
pub fn guess_mime(name: &str) -> &'static str {
    let ext = match name.rsplit_once('.') {
        Some((_, e)) => e.to_ascii_lowercase(),
        None => String::new(),
    };
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" | "md" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "mp3" | "mpga" | "mpeg" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "webm" => "audio/webm",
        "flac" => "audio/flac",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// A name inside a quoted header parameter, escaped as browsers do (the
/// HTML form-submission rules RFC 7578 points to).
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HttpOptions;
    use std::net::TcpListener;

    /// Answers one request with `reply` and hands back what it received.
    fn serve_once(reply: &'static [u8]) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if seen.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            s.write_all(reply).unwrap();
            seen
        });
        (format!("http://{addr}/up"), got)
    }

    #[test]
    fn an_upload_sends_exactly_len_bytes_with_a_content_length() {
        let (url, got) =
            serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        let client = Client::new(&HttpOptions::default()).unwrap();
        let mut body: &[u8] = b"0123456789extra";
        let resp = client
            .post_reader(&url, &[], "text/plain", &mut body, 10, None)
            .unwrap();
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"ok"[..]));
        let seen = String::from_utf8(got.join().unwrap()).unwrap();
        assert!(seen.contains("content-length: 10\r\n"), "{seen}");
        assert!(!seen.contains("transfer-encoding"), "{seen}");
        assert!(seen.ends_with("\r\n\r\n0123456789"), "{seen}");
    }

    #[test]
    fn a_download_streams_to_the_writer_and_refuses_more_than_the_cap() {
        let (url, _) =
            serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
        let client = Client::new(&HttpOptions::default()).unwrap();
        let mut out = Vec::new();
        let got = client.download(&url, &[], 5, &mut out, None).unwrap();
        assert!(matches!(got, Download::Saved(5)), "{got:?}");
        assert_eq!(out, b"hello");

        let (url, _) =
            serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
        let mut out = Vec::new();
        let err = client.download(&url, &[], 4, &mut out, None).unwrap_err();
        assert!(matches!(err, HttpError::TooLarge(4)), "{err:?}");
        assert!(out.is_empty(), "an announced oversize is refused unread");

        // No content-length: the cap is enforced while reading.
        let (url, _) = serve_once(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nhello world");
        let mut out = Vec::new();
        let err = client.download(&url, &[], 4, &mut out, None).unwrap_err();
        assert!(matches!(err, HttpError::TooLarge(4)), "{err:?}");
    }

    #[test]
    fn a_multipart_body_has_its_fields_then_the_file_and_its_exact_length() {
        let mut file: &[u8] = b"BYTES";
        let (mut body, len) = Multipart::new().text("chat_id", "42").file(
            "document",
            "a\"b\r\n.txt",
            "text/plain",
            &mut file,
            5,
        );
        let ct = Multipart::new().content_type();
        assert!(
            ct.starts_with("multipart/form-data; boundary=picoclaw-"),
            "{ct}"
        );
        let mut out = Vec::new();
        body.read_to_end(&mut out).unwrap();
        assert_eq!(out.len() as u64, len);
        let text = String::from_utf8(out).unwrap();
        let boundary = text
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("--")
            .to_string();
        assert_eq!(
            text,
            format!(
                "--{b}\r\ncontent-disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n\
                 --{b}\r\ncontent-disposition: form-data; name=\"document\"; filename=\"a%22b%0D%0A.txt\"\r\n\
                 content-type: text/plain\r\n\r\nBYTES\r\n--{b}--\r\n",
                b = boundary
            )
        );
    }

    #[test]
    fn a_refused_download_returns_the_status_and_writes_nothing() {
        let (url, _) = serve_once(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
        );
        let client = Client::new(&HttpOptions::default()).unwrap();
        let mut out = Vec::new();
        match client.download(&url, &[], 100, &mut out, None).unwrap() {
            Download::Refused(r) => {
                assert_eq!((r.status, r.body.as_slice()), (404, &b"not found"[..]))
            }
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty());
    }
}
