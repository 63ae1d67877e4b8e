//! Netlink requests over an rtnetlink [`Handle`]: one that expects an acknowledgement and
//! one that collects a dump. Errors come back as the kernel's errno.

use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use rtnetlink::Handle;

/// Sends `msg` with `flags` (plus REQUEST and ACK) and waits for the kernel's answer.
pub async fn ack(handle: &Handle, msg: RouteNetlinkMessage, flags: u16) -> Result<(), Errno> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let mut replies = handle.clone().request(req).map_err(|_| Errno::ECONNRESET)?;
    while let Some(reply) = replies.next().await {
        if let NetlinkPayload::Error(e) = reply.payload {
            if let Some(code) = e.code {
                return Err(Errno::from_raw(-code.get()));
            }
        }
    }
    Ok(())
}

/// Sends a dump request and collects every message of the answer.
pub async fn dump(handle: &Handle, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, Errno> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut replies = handle.clone().request(req).map_err(|_| Errno::ECONNRESET)?;
    let mut out = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(m) => out.push(m),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(Errno::from_raw(-code.get()));
                }
            }
            NetlinkPayload::Overrun(_) => return Err(Errno::ENOBUFS),
            _ => {}
        }
    }
    Ok(out)
}

/// One request's answer, fetched by a get with NLM_F_REQUEST only (no dump).
pub async fn get(handle: &Handle, msg: RouteNetlinkMessage) -> Result<Option<RouteNetlinkMessage>, Errno> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST;
    let mut replies = handle.clone().request(req).map_err(|_| Errno::ECONNRESET)?;
    let mut out = None;
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(m) => out = Some(m),
            NetlinkPayload::Error(e) => match e.code {
                Some(code) if matches!(Errno::from_raw(-code.get()), Errno::ENODEV | Errno::ENOENT) => return Ok(None),
                Some(code) => return Err(Errno::from_raw(-code.get())),
                None => {}
            },
            _ => {}
        }
    }
    Ok(out)
}
