use std::io::{ErrorKind, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};

use picoclaw_core::Cancel;
use picoclaw_sandbox::{run, Backend, Cmd};

use super::util::{s, Env};

fn nothing_arrived(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    matches!(l.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock)
}

#[test]
fn tcp_connect_to_a_loopback_listener_is_denied_and_nothing_arrives() {
    for env in Env::each_backend() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port().to_string();
        for (who, policy) in env.both() {
            assert_eq!(
                env.probe(&policy, &["tcp", &port]).stdout,
                "err EPERM socket\n",
                "as {who}"
            );
        }
        assert!(nothing_arrived(&l));
    }
}

#[test]
fn allowed_tcp_port_connects_and_other_ports_stay_closed() {
    for env in Env::each_backend() {
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut policy = env.policy();
        policy.allow_net_ports = vec![open.local_addr().unwrap().port()];
        let port = |l: &TcpListener| l.local_addr().unwrap().port().to_string();
        if env.backend == Backend::Namespaces {
            // Namespaces have no port filter: an allowed port would open
            // every port, so enforce refuses.
            let argv = [env.probe.clone()];
            let err = run(&policy, Cmd::Argv(&argv), None, &Cancel::new()).unwrap_err();
            assert!(err.to_string().contains("tcp port rules"), "{err}");
            continue;
        }
        assert_eq!(
            env.probe(&policy, &["tcp", &port(&open)]).stdout,
            "ok connected\n"
        );
        let (mut conn, _) = open.accept().unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello");
        assert_eq!(
            env.probe(&policy, &["tcp", &port(&closed)]).stdout,
            "err EACCES\n"
        );
        assert!(nothing_arrived(&closed));
        // Unix sockets go entirely when TCP is allowed.
        assert_eq!(
            env.probe(&policy, &["unix-abstract", "x"]).stdout,
            "err EPERM socket\n"
        );
    }
}

#[test]
fn udp_sendto_loopback_is_denied_and_nothing_is_received() {
    for env in Env::each_backend() {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_nonblocking(true).unwrap();
        let port = u.local_addr().unwrap().port().to_string();
        for (who, policy) in env.both() {
            assert_eq!(
                env.probe(&policy, &["udp", &port]).stdout,
                "err EPERM socket\n",
                "as {who}"
            );
        }
        let mut buf = [0u8; 16];
        assert!(matches!(u.recv(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock));
    }
}

#[test]
fn unix_sockets_outside_the_sandbox_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    for env in Env::each_backend() {
        let path = env.outside.join("daemon.sock");
        let stream = UnixListener::bind(&path).unwrap();
        stream.set_nonblocking(true).unwrap();
        let name = format!("picoclaw-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let abs = UnixListener::bind_addr(&addr).unwrap();
        abs.set_nonblocking(true).unwrap();
        let dpath = env.outside.join("log.sock");
        let dgram = UnixDatagram::bind(&dpath).unwrap();
        dgram.set_nonblocking(true).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [&path, &dpath] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
        }
        for (who, policy) in env.both() {
            assert_eq!(
                env.probe(&policy, &["unix", &s(&path)]).stdout,
                "err EPERM\n",
                "as {who}"
            );
            assert_eq!(
                env.probe(&policy, &["unix-abstract", &name]).stdout,
                "err EPERM\n",
                "as {who}"
            );
            assert_eq!(
                env.probe(&policy, &["unix-dgram", &s(&dpath)]).stdout,
                "err EPERM socket\n",
                "as {who}"
            );
            assert_eq!(
                env.probe(&policy, &["socketpair-dgram"]).stdout,
                "err EPERM\n",
                "as {who}"
            );
            assert_eq!(
                env.probe(&policy, &["netlink"]).stdout,
                "err EPERM\n",
                "as {who}"
            );
        }
        assert!(matches!(stream.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock));
        assert!(matches!(abs.accept(), Err(e) if e.kind() == ErrorKind::WouldBlock));
        let mut buf = [0u8; 16];
        assert!(matches!(dgram.recv(&mut buf), Err(e) if e.kind() == ErrorKind::WouldBlock));
        // Control: unsandboxed, the same probe does connect.
        assert_eq!(env.unsandboxed(&["unix", &s(&path)]), "ok connected\n");
    }
}
