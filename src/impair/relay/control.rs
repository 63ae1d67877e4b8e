//! The relay's control channel: how a running relay is told to change its impairments
//! (what `netlab impair` will use), and asked which are in force.
//!
//! A unix stream socket at the path given to the relay, which creates it and removes it
//! on exit. One request per line, one JSON reply per line:
//!
//! - `set a-b SPEC`, `set b-a SPEC`, `set both SPEC`: puts the impairment SPEC (the text
//!   form, `delay=20ms,loss=1%`, or `none`) in force for frames from a to b, from b to a,
//!   or both. The reply comes once the relay's loop has it in force, so a client that has
//!   its reply knows every frame read from then on meets the new impairment.
//! - `get`: the impairments in force.
//!
//! A reply is `{"ok":true,"a_to_b":"...","b_to_a":"..."}`, or `{"ok":false,"error":"..."}`
//! with the impairments unchanged. The socket's permissions are the creating process's
//! (root's, or the lab user's in an unprivileged lab).

use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::socket::{self, Wake};
use super::{Shared, Update};
use crate::impair::{dist, Impairment};

/// How long the relay's loop may take to put a change in force before the request fails
/// (it takes microseconds; this is for a loop that is gone).
const APPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which direction a change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Frames read from `a`, sent out of `b`.
    AToB,
    BToA,
    Both,
}

impl Direction {
    pub fn word(self) -> &'static str {
        match self {
            Direction::AToB => "a-b",
            Direction::BToA => "b-a",
            Direction::Both => "both",
        }
    }
}

/// The relay's answer to a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub a_to_b: String,
    #[serde(default)]
    pub b_to_a: String,
}

/// Sends one request line to the relay listening at `path` and reads its reply.
pub fn request(path: &Path, line: &str) -> io::Result<Reply> {
    let mut stream = UnixStream::connect(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot reach the relay at {}: {e}", path.display())))?;
    stream.set_read_timeout(Some(APPLY_TIMEOUT + Duration::from_secs(1)))?;
    writeln!(stream, "{}", line.trim())?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    serde_json::from_str(&reply)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("the relay answered `{}`: {e}", reply.trim())))
}

/// Puts `imp` in force for `direction` of the relay at `path`; an error if the relay
/// refused it.
pub fn set(path: &Path, direction: Direction, imp: &Impairment) -> io::Result<Reply> {
    let reply = request(path, &format!("set {} {imp}", direction.word()))?;
    match reply.error {
        Some(e) if !reply.ok => Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        _ => Ok(reply),
    }
}

/// Makes the control socket at `path`. A socket left there by a relay that is gone is
/// replaced; anything else there is an error (netlab removes only what it made).
pub(super) fn listen(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let stale = meta.file_type().is_socket()
            && matches!(UnixStream::connect(path), Err(e) if e.kind() == io::ErrorKind::ConnectionRefused);
        if !stale {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists (and is not a relay's socket left behind)", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", path.display())))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves requests on a thread of its own, one connection at a time, until `stop` is
/// woken.
pub(super) fn serve(listener: &UnixListener, shared: &Arc<Shared>, stop: &Wake) -> io::Result<JoinHandle<()>> {
    let listener = listener.try_clone()?;
    let shared = shared.clone();
    let stop_fd = stop.as_raw_fd();
    thread::Builder::new().name("relay-control".into()).spawn(move || loop {
        match socket::wait([listener.as_raw_fd(), stop_fd], None) {
            Ok([_, true]) | Err(_) => return,
            Ok(_) => {}
        }
        while let Ok((stream, _)) = listener.accept() {
            // A client that misbehaves costs it its connection, never the relay.
            let _ = converse(stream, &shared);
        }
    })
}

fn converse(stream: UnixStream, shared: &Shared) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let reply = answer(line?.trim(), shared);
        let mut text = serde_json::to_string(&reply).map_err(io::Error::other)?;
        text.push('\n');
        writer.write_all(text.as_bytes())?;
    }
    Ok(())
}

fn answer(line: &str, shared: &Shared) -> Reply {
    let fail = |e: String| Reply { ok: false, error: Some(e), ..Reply::default() };
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("get"), None, None) => {}
        (Some("set"), Some(dir), spec) => {
            let imp = match spec.unwrap_or("none").parse::<Impairment>() {
                Ok(imp) => imp,
                Err(e) => return fail(e),
            };
            // Built here, not by the relay's loop on its first draw, which would hold up
            // every frame for the milliseconds that takes.
            let _ = dist::table(imp.distribution);
            let set = match dir {
                "a-b" => [Some(imp), None],
                "b-a" => [None, Some(imp)],
                "both" => [Some(imp.clone()), Some(imp)],
                _ => return fail(format!("`{dir}` is not a direction: expected a-b, b-a or both")),
            };
            let (done, applied) = mpsc::channel();
            shared.updates.lock().unwrap_or_else(|e| e.into_inner()).push(Update { set, done });
            shared.wake.wake();
            if applied.recv_timeout(APPLY_TIMEOUT).is_err() {
                return fail("the relay did not take the change (is it stopping?)".into());
            }
        }
        _ => return fail(format!("`{line}` is not a request: expected `set a-b|b-a|both SPEC` or `get`")),
    }
    let [a_to_b, b_to_a] = shared.shown();
    Reply { ok: true, error: None, a_to_b, b_to_a }
}
