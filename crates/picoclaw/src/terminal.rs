//! `picoclaw agent`: the terminal as a chat channel. `-m TEXT` is one
//! message; without it, each stdin line is one. It runs through the same
//! runtime as the daemon's channels (stored inbox row → worker → outbox →
//! this sink), so a terminal turn is resumable and recorded like any other.

use std::io::{BufRead, Write};
use std::sync::{Arc, Condvar, Mutex};

use picoclaw_agent::Db;
use picoclaw_config::Config;
use picoclaw_core::{
    Batch, Button, Caps, ChannelError, ChatKind, Inbound, InboundKind, Poller, Sender, Sink,
};
use picoclaw_store::InboundStatus;
use tokio::sync::{watch, Notify};

use crate::{setup, Failure};

const NAME: &str = "cli";

pub fn run(config: Config, message: Option<String>) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the event loop: {e}")))?;
    let db = Db::new(setup::open_store(&config)?);
    // No job source here: jobs set from other chats belong to the daemon.
    let (mut runtime, _) = setup::runtime(&config, db.clone())?;
    if message.is_some() {
        // One turn: give MCP servers their start-up time, or it would
        // run without their tools.
        crate::mcp::wait_for_agent_servers();
    }
    let terminal = Arc::new(Terminal::new(message));
    runtime.channel(terminal.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.block_on(async {
        let work = tokio::spawn(runtime.run(stop_rx));
        terminal.finished.notified().await;
        let _ = stop_tx.send(true);
        let _ = work.await;
    });
    let _ = db.blocking(|s| s.checkpoint());
    rt.shutdown_background();
    // `-m`: the exit status says whether the turn worked.
    let Some(event) = terminal.last_event() else {
        return Ok(());
    };
    let status = db
        .blocking(|s| s.inbound_status(NAME, &event))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    match status {
        Some(InboundStatus::Failed) if terminal.one_shot => Err(Failure::Runtime(String::from(
            "the turn failed (see above)",
        ))),
        _ => Ok(()),
    }
}

struct State {
    /// The `-m` message, until the first poll takes it.
    message: Option<String>,
    /// The event whose reply has not been printed yet.
    awaiting: Option<String>,
    last_event: Option<String>,
    /// A running turn asked a yes/no question: the next line answers it,
    /// while the reply to `awaiting` is still to come.
    asking: bool,
    closed: bool,
    count: u64,
}

/// stdin/stdout as a channel. The next line is read only once the reply to
/// the previous one was printed, so answers and prompts interleave.
pub struct Terminal {
    one_shot: bool,
    state: Mutex<State>,
    replied: Condvar,
    /// Input is over and every reply printed: the runtime may stop.
    finished: Notify,
}

impl Terminal {
    fn new(message: Option<String>) -> Terminal {
        Terminal {
            one_shot: message.is_some(),
            state: Mutex::new(State {
                message,
                awaiting: None,
                last_event: None,
                asking: false,
                closed: false,
                count: 0,
            }),
            replied: Condvar::new(),
            finished: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn last_event(&self) -> Option<String> {
        self.lock().last_event.clone()
    }

    /// The next message: the `-m` text once, else a line from stdin (an
    /// answer to a question is always read from stdin).
    fn next_text(&self, answering: bool) -> Option<String> {
        if self.one_shot && !answering {
            return self.lock().message.take();
        }
        let stdin = std::io::stdin();
        let mut out = std::io::stdout();
        loop {
            let _ = write!(out, "> ");
            let _ = out.flush();
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            match line.trim() {
                "" => continue,
                "/exit" | "/quit" => return None,
                text => return Some(text.to_string()),
            }
        }
    }

    fn close(&self, state: &mut State) {
        state.closed = true;
        if state.awaiting.is_none() {
            self.finished.notify_one();
        }
    }
}

impl Poller for Terminal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn poll(&self, _cursor: Option<&str>) -> Result<Batch, ChannelError> {
        let answering = {
            let mut st = self.lock();
            while st.awaiting.is_some() && !st.asking {
                st = self.replied.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            std::mem::take(&mut st.asking)
        };
        let Some(text) = self.next_text(answering) else {
            let mut st = self.lock();
            self.close(&mut st);
            return Err(ChannelError::Closed);
        };
        let mut st = self.lock();
        st.count += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let event = format!("{}-{}-{}", now.as_nanos(), std::process::id(), st.count);
        if !answering {
            st.awaiting = Some(event.clone());
            st.last_event = Some(event.clone());
        }
        Ok(Batch {
            items: vec![Inbound {
                channel: String::from(NAME),
                event_id: event.clone(),
                chat_id: String::from("local"),
                chat_kind: ChatKind::Direct,
                sender: Sender {
                    id: String::from("local"),
                    username: None,
                    display: String::from("local user"),
                },
                // Replies quote it, which is how the sink knows which
                // message they answer.
                message_id: Some(event),
                kind: InboundKind::Text(text),
            }],
            cursor: None,
        })
    }
}

impl Sink for Terminal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn caps(&self) -> Caps {
        Caps {
            typing: false,
            ..Caps::default()
        }
    }

    /// One chunk per reply: a terminal has no message size limit.
    fn render(&self, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    /// A question: printed like any chunk, then the next line read answers
    /// it (`yes`/`no`), before the turn's reply.
    fn send_buttons(
        &self,
        chat: &str,
        chunk: &str,
        _reply_to: Option<&str>,
        _buttons: &[Button],
    ) -> Result<(), ChannelError> {
        self.send(chat, chunk, None)?;
        self.lock().asking = true;
        self.replied.notify_all();
        Ok(())
    }

    fn send(&self, _chat: &str, chunk: &str, reply_to: Option<&str>) -> Result<(), ChannelError> {
        let mut out = std::io::stdout();
        writeln!(out, "{chunk}")
            .and_then(|()| out.flush())
            .map_err(|e| ChannelError::Fatal(format!("stdout: {e}")))?;
        let mut st = self.lock();
        if reply_to.is_some() && st.awaiting.as_deref() == reply_to {
            st.awaiting = None;
            self.replied.notify_all();
            if st.closed {
                self.finished.notify_one();
            }
        }
        Ok(())
    }
}
