//! The stdio transport: one JSON-RPC message per line on the child's stdin
//! and stdout; stderr goes to the debug log.

use std::io::{BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use picoclaw_core::debug;

use crate::error::McpError;
use crate::frame::{read_line, Line};
use crate::launcher::{LaunchSpec, Launcher, Process};
use crate::rpc::{snippet, Outgoing, Peer, Transport};

/// How long a server gets to exit by itself once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// Frames queued for a server that is not reading them; past this the
/// server counts as hung (a blocked pipe must never block a caller).
const WRITE_QUEUE: usize = 64;

pub(crate) struct Stdio {
    queue: Writer,
    process: Mutex<Box<dyn Process>>,
    pid: u32,
}

/// The sending side of the writer thread, shared with the reader thread
/// (which answers the server's requests).
#[derive(Clone)]
struct Writer {
    tx: Arc<Mutex<Option<SyncSender<Vec<u8>>>>>,
    peer: Arc<Peer>,
}

impl Writer {
    fn send(&self, bytes: &[u8]) -> Result<(), McpError> {
        let mut frame = Vec::with_capacity(bytes.len() + 1);
        frame.extend_from_slice(bytes);
        frame.push(b'\n');
        let guard = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else {
            return Err(McpError::Closed("stdin closed".into()));
        };
        match tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                drop(guard);
                let reason = "the server stopped reading its stdin".to_string();
                self.peer.close(reason.clone());
                Err(McpError::Closed(reason))
            }
            Err(TrySendError::Disconnected(_)) => Err(McpError::Closed(
                self.peer
                    .closed_reason()
                    .unwrap_or_else(|| "stdin closed".into()),
            )),
        }
    }

    /// Lets the writer thread finish what is queued, then close stdin.
    fn close(&self) {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}

fn write_loop(mut stdin: Box<dyn Write + Send>, rx: Receiver<Vec<u8>>, peer: &Peer) {
    for frame in rx {
        if let Err(e) = stdin.write_all(&frame).and_then(|()| stdin.flush()) {
            peer.close(format!("writing to the server failed: {e}"));
            return;
        }
    }
}

impl Stdio {
    pub(crate) fn start(
        launcher: &dyn Launcher,
        spec: &LaunchSpec,
        peer: Arc<Peer>,
        max_message: usize,
    ) -> Result<Stdio, McpError> {
        let launched = launcher
            .launch(spec)
            .map_err(|e| McpError::Launch(format!("{}: {e}", spec.command)))?;
        let pid = launched.process.id();
        let mut process = launched.process;
        let (tx, rx) = sync_channel(WRITE_QUEUE);
        let queue = Writer {
            tx: Arc::new(Mutex::new(Some(tx))),
            peer: peer.clone(),
        };
        let stdin = launched.stdin;
        let writer_peer = peer.clone();
        let replies = queue.clone();
        let stdout = launched.stdout;
        let reader_peer = peer.clone();
        let started = spawn(format!("mcp-{}-in", spec.server), move || {
            write_loop(stdin, rx, &writer_peer)
        })
        .and_then(|()| {
            spawn(format!("mcp-{}-out", spec.server), move || {
                read_loop(stdout, &reader_peer, &replies, max_message)
            })
        });
        if let Err(e) = started {
            process.kill();
            return Err(e);
        }
        if let Some(stderr) = launched.stderr {
            let server = spec.server.clone();
            spawn(format!("mcp-{}-err", spec.server), move || {
                log_stderr(stderr, &server)
            })?;
        }
        debug!("mcp {}: started pid {pid}", spec.server);
        Ok(Stdio {
            queue,
            process: Mutex::new(process),
            pid,
        })
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), McpError> {
    thread::Builder::new()
        .name(name)
        .stack_size(128 * 1024)
        .spawn(f)
        .map(drop)
        .map_err(|e| McpError::Launch(format!("thread: {e}")))
}

fn read_loop(stdout: Box<dyn Read + Send>, peer: &Peer, replies: &Writer, max: usize) {
    let mut r = BufReader::with_capacity(16 * 1024, stdout);
    let mut line = Vec::new();
    let reason = loop {
        match read_line(&mut r, max, &mut line) {
            Ok(Line::Data) => {
                for reply in peer.deliver_frame(&line) {
                    // Never blocks: a full queue closes the connection.
                    let _ = replies.send(&reply);
                }
            }
            Ok(Line::TooLong(n)) => peer.oversized(n, max),
            Ok(Line::Eof) => break "the server closed its stdout (exited?)".to_string(),
            Err(e) => break format!("reading the server's stdout failed: {e}"),
        }
        if peer.closed_reason().is_some() {
            return;
        }
    };
    peer.close(reason);
}

fn log_stderr(stderr: Box<dyn Read + Send>, server: &str) {
    let mut r = BufReader::with_capacity(4096, stderr);
    let mut line = Vec::new();
    loop {
        match read_line(&mut r, 4096, &mut line) {
            Ok(Line::Data) => debug!("mcp {server} stderr: {}", snippet(&line, 300)),
            Ok(Line::TooLong(n)) => debug!("mcp {server} stderr: <{n}-byte line>"),
            Ok(Line::Eof) | Err(_) => return,
        }
    }
}

impl Transport for Stdio {
    fn send(&self, msg: Outgoing<'_>) -> Result<(), McpError> {
        self.queue.send(msg.bytes)
    }

    fn close(&self) {
        // Closing stdin is the protocol's polite shutdown; kill if ignored.
        self.queue.close();
        let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        let until = Instant::now() + EXIT_GRACE;
        while Instant::now() < until {
            if process.exited().is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        process.kill();
    }

    fn kind(&self) -> &'static str {
        "stdio"
    }

    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }
}

impl Drop for Stdio {
    fn drop(&mut self) {
        self.process
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kill();
    }
}
