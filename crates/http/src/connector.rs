//! The ureq connector chain with our own rustls step. ureq's built-in
//! `RustlsConnector` builds its `ClientConfig` from either "webpki roots"
//! or "exactly these certificates"; trusting both (`[http] ca_file` on top
//! of the built-in roots) needs our own `ClientConfig`, which ureq 3 only
//! accepts through a custom connector (`Agent::with_parts`). This is that
//! connector: the same steps as ureq's (`src/tls/rustls.rs`), with the
//! shared config from [`crate::tls`] and handshake errors kept typed.
//!
//! The chain is ureq's default minus SOCKS (not compiled in): CONNECT
//! proxy, then TCP, then TLS for `https://`.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};

/// TCP (directly or through a CONNECT proxy), then TLS with `config`.
pub(crate) fn chain(config: Arc<ClientConfig>) -> impl Connector {
    ().chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(TlsConnector { config })
}

struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("https URL without a host"))?;
        // `[::1]` in a URL is `::1` as a server name.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("host is neither a DNS name nor an IP address"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            // Send the alert rustls queued (unknown CA, bad certificate...)
            // so the server's log says why, instead of "connection closed".
            while conn.wants_write() {
                if conn.write_tls(&mut sock).is_err() {
                    break;
                }
            }
            // Keep a certificate or protocol failure as the rustls error it
            // is, so it can be told apart from a reset or a timeout.
            return Err(match crate::tls::rustls_error(&e) {
                Some(tls) => ureq::Error::Rustls(tls.clone()),
                // A server that hangs up on a ClientHello is usually not a
                // TLS server (or a proxy refusing the destination).
                None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    ureq::Error::Tls("the server closed the connection during the TLS handshake")
                }
                None => ureq::Error::from(e),
            });
        }
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
