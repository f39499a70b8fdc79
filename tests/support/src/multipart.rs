//! A strict `multipart/form-data` reader (RFC 7578 / RFC 2046) for the
//! fakes that take uploads: Telegram's sendDocument/sendPhoto, Discord's
//! message attachments, OpenAI's audio transcriptions.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Part {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Parses a whole body, or says what is wrong with it.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let b = boundary(content_type).ok_or("not multipart/form-data with a boundary")?;
    let delim = format!("--{b}");
    let mut pos = find(body, delim.as_bytes(), 0).ok_or("no opening boundary")?;
    let mut parts = Vec::new();
    loop {
        pos += delim.len();
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(parts);
        }
        if body.get(pos..pos + 2) != Some(b"\r\n") {
            return Err(String::from("boundary not followed by CRLF"));
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("part without a header end")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let next = find(body, format!("\r\n{delim}").as_bytes(), head_end + 4)
            .ok_or("part without a closing boundary")?;
        let content = body[head_end + 4..next].to_vec();
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            body: content,
        };
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                return Err(format!("bad part header line {line:?}"));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    let mut it = v.split(';');
                    if it.next().map(str::trim) != Some("form-data") {
                        return Err(format!("content-disposition is not form-data: {v}"));
                    }
                    for p in it {
                        let Some((pk, pv)) = p.split_once('=') else {
                            continue;
                        };
                        let pv = pv.trim().trim_matches('"').to_string();
                        match pk.trim() {
                            "name" => part.name = pv,
                            "filename" => part.filename = Some(pv),
                            _ => {}
                        }
                    }
                }
                "content-type" => part.content_type = Some(v.trim().to_string()),
                _ => {}
            }
        }
        if part.name.is_empty() {
            return Err(String::from("part without a name"));
        }
        parts.push(part);
        pos = next + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files_are_read_and_broken_bodies_refused() {
        let body = b"--XyZ\r\ncontent-disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n--XyZ\r\ncontent-disposition: form-data; name=\"document\"; filename=\"a.txt\"\r\ncontent-type: text/plain\r\n\r\nhi\r\nthere\r\n--XyZ--\r\n";
        let parts = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].text()),
            ("chat_id", String::from("42"))
        );
        assert_eq!(parts[1].filename.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].body, b"hi\r\nthere");
        assert!(parse("multipart/form-data; boundary=XyZ", b"--XyZ\r\nbroken").is_err());
        assert!(parse("application/json", body).is_err());
    }
}
