//! The Bot API methods the fake implements, and how it reads parameters.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::{html, now_unix, ChatAction, Fault, Rejection, SentFile, SentMessage, Shared, State};
use crate::http::{Reply, Request};

fn ok(result: Value) -> Reply {
    Reply::json(200, &json!({"ok": true, "result": result}))
}

fn error(code: u16, description: &str, retry_after: Option<u64>) -> Reply {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(s) = retry_after {
        body["parameters"] = json!({"retry_after": s});
    }
    let reply = Reply::json(code, &body);
    match retry_after {
        Some(s) => reply.with_header("retry-after", &s.to_string()),
        None => reply,
    }
}

pub(super) fn handle(shared: &Shared, req: &Request) -> Reply {
    if let Some(rest) = req.path.strip_prefix("/file/bot") {
        return download(shared, rest);
    }
    let Some(rest) = req.path.strip_prefix("/bot") else {
        return error(404, "Not Found", None);
    };
    let Some((token, method)) = rest.split_once('/') else {
        return error(404, "Not Found", None);
    };
    if token != shared.token {
        return error(401, "Unauthorized", None);
    }
    let method = method.to_ascii_lowercase();
    const KNOWN: &[&str] = &[
        "getme",
        "getupdates",
        "sendmessage",
        "sendchataction",
        "setmycommands",
        "answercallbackquery",
        "deletewebhook",
        "getwebhookinfo",
        "getfile",
        "sendphoto",
        "senddocument",
    ];
    if !KNOWN.contains(&method.as_str()) {
        return error(404, "Not Found", None);
    }
    let fault = {
        let mut st = shared.lock();
        let fault = st.faults.get_mut(&method).and_then(VecDeque::pop_front);
        // A poll that is served is counted once it is registered as the
        // current one (in `get_updates`), so a test that waits for it
        // knows a second poller will conflict with it.
        let answered_here = !matches!(fault, None | Some(Fault::Delay(_) | Fault::AckDelay(_)));
        if method == "getupdates" && answered_here {
            st.get_updates_calls += 1;
            shared.changed.notify_all();
        }
        fault
    };
    let ack_delay = match &fault {
        Some(Fault::AckDelay(d)) => Some(*d),
        _ => None,
    };
    match fault {
        Some(Fault::Status {
            code,
            description,
            retry_after,
        }) => return error(code, &description, retry_after),
        Some(Fault::Hangup) => return Reply::Hangup,
        Some(Fault::NonJson) => {
            return Reply::raw(
                200,
                "text/html",
                "<html><body><h1>Welcome to nginx!</h1></body></html>",
            )
        }
        Some(Fault::Truncated) => {
            return Reply::Truncated {
                status: 200,
                body: br#"{"ok":true,"result":[{"update_id":7310"#.to_vec(),
            }
        }
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        Some(Fault::AckDelay(_)) | None => {}
    }

    let params = match params(req) {
        Ok(p) => p,
        Err(desc) => {
            if method == "getupdates" {
                shared.lock().get_updates_calls += 1;
                shared.changed.notify_all();
            }
            return reject(shared, &method, 400, &desc);
        }
    };
    let result = match method.as_str() {
        "getme" => Ok(shared.lock().bot.clone()),
        "getupdates" => get_updates(shared, &params),
        "sendmessage" => send_message(shared, &params),
        "sendchataction" => send_chat_action(shared, &params),
        "getfile" => get_file(shared, &params),
        "sendphoto" => send_file(shared, &params, req, "sendPhoto", "photo"),
        "senddocument" => send_file(shared, &params, req, "sendDocument", "document"),
        "answercallbackquery" => answer_callback_query(shared, &params),
        "setmycommands" => match params.get("commands") {
            Some(Value::Array(list)) => {
                shared.lock().commands = Some(Value::Array(list.clone()));
                Ok(json!(true))
            }
            _ => Err((
                400,
                String::from("Bad Request: parameter \"commands\" is required"),
            )),
        },
        "deletewebhook" => {
            shared.lock().webhook_conflict = false;
            Ok(json!(true))
        }
        _ => {
            let st = shared.lock();
            Ok(json!({
                "url": if st.webhook_conflict { "https://example.invalid/hook" } else { "" },
                "has_custom_certificate": false,
                "pending_update_count": st.updates.len(),
            }))
        }
    };
    let reply = match result {
        Ok(v) => ok(v),
        Err((code, desc)) => reject(shared, &method, code, &desc),
    };
    match ack_delay {
        Some(d) => Reply::Delayed(d, Box::new(reply)),
        None => reply,
    }
}

fn reject(shared: &Shared, method: &str, code: u16, description: &str) -> Reply {
    shared.lock().rejections.push(Rejection {
        method: method.to_owned(),
        code,
        description: description.to_owned(),
    });
    shared.changed.notify_all();
    error(code, description, None)
}

type Params = Map<String, Value>;
type ApiResult = Result<Value, (u16, String)>;

/// Query string, then a JSON or form body. Form and query values are
/// strings; ones that look like JSON objects/arrays are parsed, as the Bot
/// API does for fields like `reply_parameters`.
fn params(req: &Request) -> Result<Params, String> {
    let mut out = Map::new();
    form_pairs(&req.query, &mut out);
    if req.body.is_empty() {
        return Ok(out);
    }
    let ctype = req
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => out.extend(map),
            _ => return Err(String::from("Bad Request: can't parse JSON request body")),
        }
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        form_pairs(&String::from_utf8_lossy(&req.body), &mut out);
    } else if ctype.starts_with("multipart/form-data") {
        let ctype = req.header("content-type").unwrap_or("");
        let parts = crate::multipart::parse(ctype, &req.body)
            .map_err(|e| format!("Bad Request: can't parse multipart body: {e}"))?;
        // Text fields are parameters; file parts are read by the method.
        for p in parts.into_iter().filter(|p| p.filename.is_none()) {
            let v = p.text();
            let value = if v.starts_with('{') || v.starts_with('[') {
                serde_json::from_str(&v).unwrap_or(Value::String(v))
            } else {
                Value::String(v)
            };
            out.insert(p.name, value);
        }
    } else {
        return Err(format!("Bad Request: unsupported Content-Type {ctype:?}"));
    }
    Ok(out)
}

fn form_pairs(s: &str, out: &mut Params) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        let value = if v.starts_with('{') || v.starts_with('[') {
            serde_json::from_str(&v).unwrap_or(Value::String(v))
        } else {
            Value::String(v)
        };
        out.insert(percent_decode(k), value);
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An integer parameter: a JSON number or a numeric string.
fn int_param(p: &Params, key: &str) -> Result<Option<i64>, (u16, String)> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| (400, format!("Bad Request: invalid {key} specified"))),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| (400, format!("Bad Request: invalid {key} specified"))),
        Some(_) => Err((400, format!("Bad Request: invalid {key} specified"))),
    }
}

fn object_param(p: &Params, key: &str) -> Result<Option<Map<String, Value>>, (u16, String)> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            _ => Err((400, format!("Bad Request: can't parse {key} JSON object"))),
        },
        Some(_) => Err((400, format!("Bad Request: can't parse {key} JSON object"))),
    }
}

fn get_updates(shared: &Shared, p: &Params) -> ApiResult {
    let offset = int_param(p, "offset")?;
    let limit = int_param(p, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int_param(p, "timeout")?.unwrap_or(0).max(0) as u64;
    let allowed = match p.get("allowed_updates") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err((
                400,
                String::from("Bad Request: can't parse allowed_updates"),
            ))
        }
    };
    let mut st = shared.lock();
    st.get_updates_calls += 1;
    if st.webhook_conflict {
        shared.changed.notify_all();
        return Err((
            409,
            String::from(
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            ),
        ));
    }
    // Like the real API, the list persists until changed; an empty list
    // means "all the default kinds".
    if let Some(list) = allowed {
        st.allowed_updates = (!list.is_empty()).then_some(list);
    }
    match offset {
        Some(o) if o > 0 => {
            st.updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= o);
            st.confirmed_offset = st.confirmed_offset.max(o);
        }
        Some(o) if o < 0 => {
            let keep = o.unsigned_abs() as usize;
            while st.updates.len() > keep {
                if let Some(u) = st.updates.pop_front() {
                    let next = u["update_id"].as_i64().unwrap_or(0) + 1;
                    st.confirmed_offset = st.confirmed_offset.max(next);
                }
            }
        }
        _ => {}
    }
    shared.changed.notify_all();
    st.poll_generation += 1;
    let generation = st.poll_generation;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        if let Some(list) = st.allowed_updates.clone() {
            // Kinds the bot did not ask for are never delivered.
            st.updates
                .retain(|u| list.iter().any(|k| u.get(k.as_str()).is_some()));
        }
        let batch: Vec<Value> = st.updates.iter().take(limit).cloned().collect();
        let now = Instant::now();
        if !batch.is_empty() || now >= deadline || st.closed {
            return Ok(Value::Array(batch));
        }
        st = match shared.changed.wait_timeout(st, deadline - now) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
        if st.poll_generation != generation {
            return Err((
                409,
                String::from(
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                ),
            ));
        }
        if st.webhook_conflict {
            return Err((409, String::from("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")));
        }
    }
}

/// Resolves `chat_id` to a chat the bot can write to.
fn target_chat(st: &State, p: &Params) -> Result<i64, (u16, String)> {
    let id = match p.get("chat_id") {
        None | Some(Value::Null) => {
            return Err((400, String::from("Bad Request: chat_id is empty")))
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err((400, String::from("Bad Request: chat_id is empty")))
        }
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    let Some(id) = id.filter(|id| st.chats.contains_key(id)) else {
        return Err((400, String::from("Bad Request: chat not found")));
    };
    if st.blocked.contains(&id) {
        return Err((403, String::from("Forbidden: bot was blocked by the user")));
    }
    Ok(id)
}

fn send_message(shared: &Shared, p: &Params) -> ApiResult {
    let mut st = shared.lock();
    let chat_id = target_chat(&st, p)?;
    let text = match p.get("text") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err((400, String::from("Bad Request: message text is empty"))),
    };
    let parse_mode = p
        .get("parse_mode")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    let visible = match parse_mode
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => text.clone(),
        Some("html") => html::parse(&text)
            .map_err(|e| (400, format!("Bad Request: can't parse entities: {e}")))?,
        // Markdown modes are accepted but not parsed: picoclaw sends HTML.
        Some("markdown" | "markdownv2") => text.clone(),
        Some(_) => return Err((400, String::from("Bad Request: unsupported parse_mode"))),
    };
    if visible.trim().is_empty() {
        return Err((400, String::from("Bad Request: message text is empty")));
    }
    if visible.encode_utf16().count() > 4096 {
        return Err((400, String::from("Bad Request: message is too long")));
    }
    object_param(p, "link_preview_options")?;
    let markup = object_param(p, "reply_markup")?;
    let buttons = match &markup {
        Some(m) => inline_keyboard(m)?,
        None => Vec::new(),
    };
    let (reply_id, allow_missing) = match object_param(p, "reply_parameters")? {
        Some(rp) => {
            let id = rp.get("message_id").and_then(Value::as_i64).ok_or((
                400,
                String::from("Bad Request: can't parse reply parameters: message_id is required"),
            ))?;
            let allow = rp
                .get("allow_sending_without_reply")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (Some(id), allow)
        }
        None => (
            int_param(p, "reply_to_message_id")?,
            matches!(
                p.get("allow_sending_without_reply"),
                Some(Value::Bool(true))
            ) || p.get("allow_sending_without_reply").and_then(Value::as_str) == Some("true"),
        ),
    };
    let bot = st.bot.clone();
    let Some(chat) = st.chats.get_mut(&chat_id) else {
        return Err((400, String::from("Bad Request: chat not found")));
    };
    let replied = reply_id.and_then(|id| chat.messages.get(&id).cloned());
    if reply_id.is_some() && replied.is_none() && !allow_missing {
        return Err((
            400,
            String::from("Bad Request: message to be replied not found"),
        ));
    }
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut message = json!({
        "message_id": message_id,
        "from": bot,
        "chat": {"id": chat_id, "type": chat.kind},
        "date": now_unix(),
        "text": visible,
    });
    if let Some(m) = markup {
        message["reply_markup"] = Value::Object(m);
    }
    chat.messages.insert(message_id, message.clone());
    if let Some(r) = &replied {
        message["reply_to_message"] = r.clone();
    }
    st.sent.push(SentMessage {
        message_id,
        chat_id,
        text,
        visible,
        parse_mode,
        reply_to: replied.and(reply_id),
        buttons,
    });
    shared.changed.notify_all();
    Ok(message)
}

fn send_chat_action(shared: &Shared, p: &Params) -> ApiResult {
    const ACTIONS: &[&str] = &[
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ];
    let mut st = shared.lock();
    let chat_id = target_chat(&st, p)?;
    let action = p.get("action").and_then(Value::as_str).unwrap_or("");
    if !ACTIONS.contains(&action) {
        return Err((
            400,
            String::from("Bad Request: wrong parameter action in request"),
        ));
    }
    st.actions.push(ChatAction {
        chat_id,
        action: action.to_owned(),
    });
    shared.changed.notify_all();
    Ok(json!(true))
}

/// `GET /file/bot<token>/<file_path>`: the bytes, or 404.
fn download(shared: &Shared, rest: &str) -> Reply {
    let Some((token, path)) = rest.split_once('/') else {
        return error(404, "Not Found", None);
    };
    let mut st = shared.lock();
    if token != shared.token {
        return error(404, "Not Found", None);
    }
    // Faults for downloads are queued under the name "file".
    match st.faults.get_mut("file").and_then(VecDeque::pop_front) {
        Some(Fault::Hangup) => return Reply::Hangup,
        Some(Fault::Status {
            code,
            description,
            retry_after,
        }) => return error(code, &description, retry_after),
        Some(Fault::Delay(d)) => {
            drop(st);
            std::thread::sleep(d);
            st = shared.lock();
        }
        _ => {}
    }
    let found = st
        .files
        .values()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b.clone());
    match found {
        Some(bytes) => {
            st.downloads += 1;
            shared.changed.notify_all();
            Reply::raw(200, "application/octet-stream", bytes.as_slice().to_vec())
        }
        None => error(404, "Not Found", None),
    }
}

fn get_file(shared: &Shared, p: &Params) -> ApiResult {
    let id = p.get("file_id").and_then(Value::as_str).unwrap_or("");
    let st = shared.lock();
    let Some((path, bytes)) = st.files.get(id) else {
        return Err((400, String::from("Bad Request: invalid file_id")));
    };
    if bytes.len() > 20 * 1024 * 1024 {
        return Err((400, String::from("Bad Request: file is too big")));
    }
    Ok(
        json!({"file_id": id, "file_unique_id": format!("u{id}"), "file_size": bytes.len(), "file_path": path}),
    )
}

/// sendPhoto / sendDocument with the file uploaded in `field`.
fn send_file(shared: &Shared, p: &Params, req: &Request, method: &str, field: &str) -> ApiResult {
    let ctype = req.header("content-type").unwrap_or("");
    if !ctype.starts_with("multipart/form-data") {
        return Err((
            400,
            format!("Bad Request: there is no {field} in the request"),
        ));
    }
    let parts = crate::multipart::parse(ctype, &req.body)
        .map_err(|e| (400, format!("Bad Request: can't parse multipart body: {e}")))?;
    let Some(file) = parts
        .into_iter()
        .find(|x| x.name == field && x.filename.is_some())
    else {
        return Err((
            400,
            format!("Bad Request: there is no {field} in the request"),
        ));
    };
    let limit = if field == "photo" { 10 << 20 } else { 50 << 20 };
    if file.body.len() > limit {
        return Err(if field == "photo" {
            (400, String::from("Bad Request: file is too big"))
        } else {
            (413, String::from("Request Entity Too Large"))
        });
    }
    let mut st = shared.lock();
    let chat_id = target_chat(&st, p)?;
    let bot = st.bot.clone();
    let Some(chat) = st.chats.get_mut(&chat_id) else {
        return Err((400, String::from("Bad Request: chat not found")));
    };
    let message_id = chat.next_message_id;
    chat.next_message_id += 1;
    let mut message = json!({
        "message_id": message_id, "from": bot,
        "chat": {"id": chat_id, "type": chat.kind}, "date": now_unix(),
    });
    message[field] = if field == "photo" {
        json!([{"file_id": format!("sent{message_id}"), "file_unique_id": format!("us{message_id}"),
            "width": 100, "height": 100, "file_size": file.body.len()}])
    } else {
        json!({"file_id": format!("sent{message_id}"), "file_unique_id": format!("us{message_id}"),
            "file_name": file.filename, "file_size": file.body.len()})
    };
    chat.messages.insert(message_id, message.clone());
    st.sent_files.push(SentFile {
        message_id,
        chat_id,
        method: method.to_owned(),
        filename: file.filename,
        content_type: file.content_type,
        bytes: file.body,
    });
    shared.changed.notify_all();
    Ok(message)
}

/// An `InlineKeyboardMarkup`: rows of buttons, each with `text` and exactly
/// one action; `callback_data` must be 1-64 bytes. Returns (text, data).
fn inline_keyboard(markup: &Map<String, Value>) -> Result<Vec<(String, String)>, (u16, String)> {
    let bad = |why: &str| {
        (
            400,
            format!("Bad Request: can't parse reply keyboard markup JSON object: {why}"),
        )
    };
    let rows = markup
        .get("inline_keyboard")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("field \"inline_keyboard\" must be an Array"))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row
            .as_array()
            .ok_or_else(|| bad("field \"inline_keyboard\" must be an Array of Arrays"))?;
        for button in row {
            let text = button
                .get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or((
                    400,
                    String::from(
                        "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String",
                    ),
                ))?;
            const ACTIONS: &[&str] = &[
                "url",
                "callback_data",
                "web_app",
                "login_url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "copy_text",
                "pay",
            ];
            let actions = ACTIONS.iter().filter(|a| button.get(**a).is_some()).count();
            if actions != 1 {
                return Err((
                    400,
                    String::from(
                        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ),
                ));
            }
            if let Some(data) = button.get("callback_data") {
                let data = data.as_str().unwrap_or("");
                if data.is_empty() || data.len() > 64 {
                    return Err((400, String::from("Bad Request: BUTTON_DATA_INVALID")));
                }
                out.push((text.to_owned(), data.to_owned()));
            }
        }
    }
    Ok(out)
}

fn answer_callback_query(shared: &Shared, p: &Params) -> ApiResult {
    let id = match p.get("callback_query_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err((
                400,
                String::from("Bad Request: parameter \"callback_query_id\" is required"),
            ))
        }
    };
    let mut st = shared.lock();
    if !st.open_queries.remove(&id) {
        return Err((
            400,
            String::from(
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            ),
        ));
    }
    st.answered_queries.push(id);
    shared.changed.notify_all();
    Ok(json!(true))
}
