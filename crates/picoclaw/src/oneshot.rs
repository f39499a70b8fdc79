//! `picoclaw agent`: the terminal as a channel. Messages go through the
//! store and the same `Agent::handle` as Telegram messages.

use std::io::{BufRead, Write};

use picoclaw_agent::Db;
use picoclaw_config::Config;
use picoclaw_core::{Cancel, ChatKind, Inbound, InboundKind, Sender};
use picoclaw_store::InboundStatus;

use crate::{setup, Failure};

pub fn run(config: Config, message: Option<String>) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the event loop: {e}")))?;
    let db = Db::new(setup::open_store(&config)?);
    let agent = setup::agent(&config, db.clone())?;
    let result = rt.block_on(async {
        match message {
            Some(text) => {
                let (answer, failed) = turn(&agent, &db, text).await?;
                println!("{answer}");
                if failed {
                    return Err(Failure::Runtime(String::from(
                        "the turn failed (see above)",
                    )));
                }
                Ok(())
            }
            None => repl(&agent, &db).await,
        }
    });
    let _ = db.blocking(|s| s.checkpoint());
    rt.shutdown_background();
    result
}

async fn repl(agent: &picoclaw_agent::Agent, db: &Db) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    loop {
        let _ = write!(out, "> ");
        let _ = out.flush();
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Failure::Runtime(format!("stdin: {e}"))),
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "/exit" || text == "/quit" {
            return Ok(());
        }
        let (answer, _) = turn(agent, db, text.to_string()).await?;
        let _ = writeln!(out, "{answer}");
    }
}

async fn turn(
    agent: &picoclaw_agent::Agent,
    db: &Db,
    text: String,
) -> Result<(String, bool), Failure> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let inbound = Inbound {
        channel: String::from("cli"),
        event_id: format!("{}-{}", now.as_nanos(), std::process::id()),
        chat_id: String::from("local"),
        chat_kind: ChatKind::Direct,
        sender: Sender {
            id: String::from("local"),
            username: None,
            display: String::from("local user"),
        },
        message_id: None,
        kind: InboundKind::Text(text),
    };
    let stored = inbound.clone();
    let ids = db
        .call(move |s| s.ingest("cli", &[stored], None))
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let id = ids
        .first()
        .copied()
        .ok_or_else(|| Failure::Runtime(String::from("message was not stored")))?;
    let row = db
        .call(move |s| s.inbound(id))
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?
        .ok_or_else(|| Failure::Runtime(String::from("stored message vanished")))?;
    let reply = agent.handle(&row, &Cancel::new()).await;
    let status = if reply.failed {
        InboundStatus::Failed
    } else {
        InboundStatus::Answered
    };
    db.call(move |s| s.set_inbound_status(id, status, None))
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    Ok((reply.text, reply.failed))
}
