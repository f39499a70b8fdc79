//! Bounded capture of one output stream: the first and last halves of a
//! byte budget, with a count of what fell out in between.

#[derive(Debug)]
pub(crate) struct Capture {
    half: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
}

impl Capture {
    pub(crate) fn new(keep_bytes: usize) -> Self {
        Capture {
            half: keep_bytes / 2,
            head: Vec::new(),
            tail: Vec::new(),
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < self.half {
            let take = (self.half - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        self.tail.extend_from_slice(data);
        // Trim in batches so a stream of small reads stays linear.
        if self.tail.len() > self.half.saturating_mul(2).max(4096) {
            let excess = self.tail.len() - self.half;
            self.tail.drain(..excess);
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Lossy UTF-8 text and whether anything was cut.
    pub(crate) fn finish(mut self) -> (String, bool) {
        if self.tail.len() > self.half {
            let excess = self.tail.len() - self.half;
            self.tail.drain(..excess);
        }
        let kept = (self.head.len() + self.tail.len()) as u64;
        let cut = self.total - kept;
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if cut > 0 {
            text.push_str(&format!("\n[… {cut} bytes cut …]\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        (text, cut > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_output_is_kept_whole() {
        let mut c = Capture::new(100);
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.finish(), ("hello world".to_string(), false));
    }

    #[test]
    fn long_output_keeps_head_and_tail_with_a_marker() {
        let mut c = Capture::new(10);
        for chunk in b"0123456789abcdefghijklmnopqrstuvwxyz".chunks(3) {
            c.push(chunk);
        }
        assert_eq!(c.total(), 36);
        assert_eq!(
            c.finish(),
            ("01234\n[… 26 bytes cut …]\nvwxyz".to_string(), true)
        );
    }
}
