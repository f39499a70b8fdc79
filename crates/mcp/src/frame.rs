//! Bounded framing: newline-delimited lines (stdio) and server-sent events
//! (HTTP). A frame over the limit is skipped as it streams past, never
//! buffered whole, so a misbehaving server cannot grow our memory.

use std::io::{self, BufRead};

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `buf` holds one line without its terminator.
    Data,
    /// A line of this many bytes was over the limit and was skipped.
    TooLong(usize),
    Eof,
}

/// Reads one `\n`-terminated line (a trailing `\r` is dropped) into `buf`,
/// holding at most `max` bytes. A final line without a newline counts.
pub(crate) fn read_line<R: BufRead + ?Sized>(
    r: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> io::Result<Line> {
    buf.clear();
    // Large frames are rare; do not keep their memory around afterwards.
    if buf.capacity() > 64 * 1024 {
        buf.shrink_to(64 * 1024);
    }
    let mut skipped: Option<usize> = None;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match skipped {
                Some(n) => Line::TooLong(n),
                None if buf.is_empty() => Line::Eof,
                None => Line::Data,
            });
        }
        let newline = avail.iter().position(|&b| b == b'\n');
        let take = newline.unwrap_or(avail.len());
        match skipped.as_mut() {
            Some(n) => *n += take,
            None if buf.len() + take > max => skipped = Some(buf.len() + take),
            None => buf.extend_from_slice(&avail[..take]),
        }
        if skipped.is_some() {
            buf.clear();
        }
        r.consume(take + usize::from(newline.is_some()));
        if newline.is_some() {
            if let Some(n) = skipped {
                return Ok(Line::TooLong(n));
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Line::Data);
        }
    }
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
    pub retry_ms: Option<u64>,
}

/// What [`SseReader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sse {
    Event(Event),
    /// An event over the size limit was dropped.
    TooLong(usize),
    Eof,
}

/// Parses `text/event-stream` per the HTML living standard: `data` lines
/// joined with `\n`, `event`, `id`, `retry`, `:` comments, blank line
/// dispatches.
pub(crate) struct SseReader<R> {
    inner: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        SseReader {
            inner,
            max,
            line: Vec::new(),
        }
    }

    pub(crate) fn next_event(&mut self) -> io::Result<Sse> {
        let mut ev = Event::default();
        let mut has_data = false;
        let mut oversized: Option<usize> = None;
        loop {
            match read_line(&mut self.inner, self.max, &mut self.line)? {
                Line::Eof => {
                    return Ok(match oversized {
                        Some(n) => Sse::TooLong(n),
                        None => Sse::Eof,
                    })
                }
                Line::TooLong(n) => {
                    oversized = Some(oversized.unwrap_or(0) + n);
                    continue;
                }
                Line::Data => {}
            }
            if self.line.is_empty() {
                if let Some(n) = oversized {
                    return Ok(Sse::TooLong(n));
                }
                if has_data || ev.id.is_some() || ev.retry_ms.is_some() {
                    return Ok(Sse::Event(ev));
                }
                continue;
            }
            let text = String::from_utf8_lossy(&self.line);
            let (field, value) = match text.split_once(':') {
                Some(("", _)) => continue, // comment
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (text.as_ref(), ""),
            };
            match field {
                "data" => {
                    if has_data {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    has_data = true;
                    if ev.data.len() > self.max {
                        oversized = Some(ev.data.len());
                        ev.data = String::new();
                    }
                }
                "event" => ev.event = value.to_string(),
                "id" if !value.contains('\0') => ev.id = Some(value.to_string()),
                "retry" => ev.retry_ms = value.parse().ok(),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn lines(input: &[u8], max: usize) -> Vec<Result<String, usize>> {
        // A 4-byte buffer makes every line cross fill_buf boundaries.
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, max, &mut buf).unwrap() {
                Line::Data => out.push(Ok(String::from_utf8(buf.clone()).unwrap())),
                Line::TooLong(n) => out.push(Err(n)),
                Line::Eof => return out,
            }
            assert!(
                buf.len() <= max,
                "buffered {} bytes past the limit",
                buf.len()
            );
        }
    }

    #[test]
    fn lines_over_the_limit_are_skipped_and_the_next_line_still_reads() {
        assert_eq!(
            lines(b"ok\r\n0123456789abcdef\nnext\nlast", 8),
            vec![
                Ok("ok".into()),
                Err(16),
                Ok("next".into()),
                Ok("last".into())
            ]
        );
        assert_eq!(lines(b"", 8), vec![]);
        assert_eq!(
            lines(b"\n\n", 8),
            vec![Ok(String::new()), Ok(String::new())]
        );
    }

    #[test]
    fn an_oversized_line_never_grows_the_buffer_past_the_limit() {
        let big = vec![b'x'; 1 << 20];
        let mut input = big.clone();
        input.extend_from_slice(b"\n{}\n");
        let mut r = BufReader::new(&input[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, 1000, &mut buf).unwrap(),
            Line::TooLong(1 << 20)
        );
        assert!(buf.capacity() <= 64 * 1024);
        assert_eq!(read_line(&mut r, 1000, &mut buf).unwrap(), Line::Data);
        assert_eq!(buf, b"{}");
    }

    fn events(input: &str, max: usize) -> Vec<Sse> {
        let mut r = SseReader::new(BufReader::with_capacity(3, input.as_bytes()), max);
        let mut out = Vec::new();
        loop {
            let e = r.next_event().unwrap();
            if e == Sse::Eof {
                return out;
            }
            out.push(e);
        }
    }

    #[test]
    fn sse_events_join_data_lines_and_carry_ids_and_retry() {
        let got = events(
            ": keepalive\r\nid: 7\r\nretry: 1500\r\ndata:\r\n\r\nevent: message\ndata: {\"a\":\ndata: 1}\n\ndata: x\n",
            100,
        );
        assert_eq!(
            got,
            vec![
                Sse::Event(Event {
                    event: String::new(),
                    data: String::new(),
                    id: Some("7".into()),
                    retry_ms: Some(1500),
                }),
                Sse::Event(Event {
                    event: "message".into(),
                    data: "{\"a\":\n1}".into(),
                    id: None,
                    retry_ms: None,
                }),
            ],
            "an unterminated last event is not dispatched"
        );
    }

    #[test]
    fn an_oversized_sse_event_is_dropped_and_the_stream_goes_on() {
        let got = events("data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n", 15);
        assert_eq!(got.len(), 2);
        assert!(matches!(got[0], Sse::TooLong(_)), "{got:?}");
        assert!(matches!(&got[1], Sse::Event(e) if e.data == "ok"));
    }
}
