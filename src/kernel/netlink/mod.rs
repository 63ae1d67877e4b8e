//! rtnetlink: the messages netlab sends (`build`), what it makes of the kernel's answers
//! (`parse`), and the three ways it talks over an rtnetlink [`Handle`]: a request that
//! expects an acknowledgement, a dump, and a get. Errors come back as the kernel's errno.

// netlink's own enums (payloads, attributes) are foreign and non-exhaustive: what netlab
// does not read is skipped, so their matches end in `_`.
#![allow(clippy::wildcard_enum_match_arm, reason = "foreign, non-exhaustive netlink enums")]

pub mod build;
pub mod parse;

use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use rtnetlink::Handle;

use crate::live::LiveLink;

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

/// Every link of the connection's namespace, without their statistics (which netlab does
/// not read, and which are most of a link's message).
pub async fn dump_links(handle: &Handle) -> Result<Vec<LiveLink>, Errno> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    let msgs = dump(handle, RouteNetlinkMessage::GetLink(msg)).await?;
    Ok(msgs
        .iter()
        .filter_map(|m| if let RouteNetlinkMessage::NewLink(l) = m { Some(parse::parse_link(l)) } else { None })
        .collect())
}

/// The link `msg` names (by name or index), or `None` when there is no such link.
pub async fn get_link(handle: &Handle, msg: LinkMessage) -> Result<Option<LiveLink>, Errno> {
    match get(handle, RouteNetlinkMessage::GetLink(msg)).await? {
        Some(RouteNetlinkMessage::NewLink(l)) => Ok(Some(parse::parse_link(&l))),
        Some(_) | None => Ok(None),
    }
}
