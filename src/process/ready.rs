//! The socket checks of readiness (see `topology::Ready`): `tcp:PORT`, a socket listening
//! on PORT on any address of its node's namespace (redis binds its lab address, not
//! 127.0.0.1, so connecting to localhost would not do); `udp:PORT`, a UDP socket bound to
//! PORT there. (`cmd:` is run by the supervisor, like any command.)
//!
//! Sockets are read from /proc/net/{tcp,tcp6,udp,udp6} by a thread that has entered the
//! namespace: the kernel's table of that namespace's sockets, whoever owns them.

use std::io;
use std::os::fd::AsFd;

/// Which table a socket check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// TCP_LISTEN in the `st` column of /proc/net/tcp.
const TCP_LISTEN: &str = "0A";

/// Whether a /proc/net/{tcp,tcp6,udp,udp6} table has a socket on local `port`: for TCP
/// one in LISTEN, for UDP one bound there in any state. The local address is
/// `HEXADDR:HEXPORT`, the port in big-endian hex whatever the machine.
pub fn table_has(table: &str, proto: Proto, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut cols = line.split_whitespace();
        let (Some(_slot), Some(local), Some(_remote), Some(state)) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return false;
        };
        let Some(p) = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()) else {
            return false;
        };
        p == port && (proto == Proto::Udp || state == TCP_LISTEN)
    })
}

/// Reads this thread's namespace's tables for `proto` (v4 and v6).
fn has_socket_here(proto: Proto, port: u16) -> io::Result<bool> {
    let names: [&str; 2] = match proto {
        Proto::Tcp => ["tcp", "tcp6"],
        Proto::Udp => ["udp", "udp6"],
    };
    for name in names {
        // thread-self: /proc/self/net is the namespace of the process's main thread.
        match std::fs::read_to_string(format!("/proc/thread-self/net/{name}")) {
            Ok(table) if table_has(&table, proto, port) => return Ok(true),
            Ok(_) => {}
            // A kernel without IPv6 has no tcp6.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Whether a socket of `proto` is listening on (TCP) or bound to (UDP) `port` in the
/// namespace `netns` (`None`: the caller's own).
pub fn has_socket(netns: Option<&(impl AsFd + Sync)>, proto: Proto, port: u16) -> io::Result<bool> {
    match netns {
        None => has_socket_here(proto, port),
        Some(fd) => std::thread::scope(|s| {
            s.spawn(|| {
                // A thread made for this, which enters the namespace and ends.
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)?;
                has_socket_here(proto, port)
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the socket check panicked")))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A slice of a real /proc/net/tcp: redis on 10.77.0.2:6379 and :16379 listening, and an
    // established connection from local port 8000 (not listening).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 02004D0A:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 02004D0A:3FFB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0100007F:1F40 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  1: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4 2 0 0
";

    #[test]
    fn a_listening_socket_on_any_address_counts_and_a_connection_does_not() {
        assert!(table_has(TCP, Proto::Tcp, 6379));
        assert!(table_has(TCP, Proto::Tcp, 16379));
        assert!(!table_has(TCP, Proto::Tcp, 8000), "established, not listening");
        assert!(!table_has(TCP, Proto::Tcp, 6380));
        assert!(table_has(UDP6, Proto::Udp, 53));
        assert!(!table_has(UDP6, Proto::Udp, 54));
        assert!(!table_has("", Proto::Tcp, 1));
    }

    #[test]
    fn a_socket_of_this_process_is_found_in_its_own_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let none: Option<&std::fs::File> = None;
        assert!(has_socket(none, Proto::Tcp, port).unwrap());
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let uport = udp.local_addr().unwrap().port();
        assert!(has_socket(none, Proto::Udp, uport).unwrap());
        if !nix::unistd::geteuid().is_root() {
            return; // entering a namespace, even our own, needs CAP_SYS_ADMIN
        }
        // Our own namespace by its file, as a node's would be entered.
        let ns = std::fs::File::open("/proc/self/ns/net").unwrap();
        assert!(has_socket(Some(&ns), Proto::Tcp, port).unwrap());
        drop(listener);
        assert!(!has_socket(Some(&ns), Proto::Tcp, port).unwrap());
    }
}
