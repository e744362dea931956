//! The parent's live children: their channels, the cap on how many run at once, and reaping.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::channel::Channel;

/// Most children alive at once. At the cap the parent stops accepting: new connections wait in
/// the listen backlog until a child exits.
pub(crate) const MAX_CHILDREN: usize = 64;

/// The live children, by process id, with the parent's end of each one's channel (`None` once
/// the child closed it).
#[derive(Debug, Default)]
pub(crate) struct Children {
    live: HashMap<Pid, Option<Channel>>,
}

impl Children {
    /// Whether no child is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Whether the cap is reached.
    pub(crate) fn is_full(&self) -> bool {
        self.live.len() >= MAX_CHILDREN
    }

    /// Records a child just forked.
    pub(crate) fn insert(&mut self, child: Pid, channel: Channel) {
        self.live.insert(child, Some(channel));
    }

    /// The open channels, for `poll`.
    pub(crate) fn channels(&self) -> impl Iterator<Item = (Pid, &Channel)> {
        self.live
            .iter()
            .filter_map(|(child, channel)| Some((*child, channel.as_ref()?)))
    }

    /// The channel of `child`, while open.
    pub(crate) fn channel_mut(&mut self, child: Pid) -> Option<&mut Channel> {
        self.live.get_mut(&child)?.as_mut()
    }

    /// Closes the parent's end of `child`'s channel (the child closed its end or misbehaved).
    pub(crate) fn close_channel(&mut self, child: Pid) {
        if let Some(channel) = self.live.get_mut(&child) {
            *channel = None;
        }
    }

    /// Collects every child that has exited, without waiting. Their channels are returned:
    /// what a child sent just before it exited may still be unread there.
    pub(crate) fn reap(&mut self) -> Vec<(Pid, Channel)> {
        let mut exited = Vec::new();
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(child, code)) => {
                    if code != 0 {
                        tracing::warn!("child {child} exited with status {code}");
                    }
                    exited.extend(self.forget(child));
                }
                Ok(WaitStatus::Signaled(child, signal, _)) => {
                    if signal == Signal::SIGALRM {
                        tracing::warn!("child {child} passed its time limit and was stopped");
                    } else if signal != Signal::SIGKILL {
                        tracing::warn!("child {child} ended by {signal}");
                    }
                    exited.extend(self.forget(child));
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return exited,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(error) => {
                    tracing::error!("cannot reap children: {error}");
                    return exited;
                }
            }
        }
    }

    fn forget(&mut self, child: Pid) -> Option<(Pid, Channel)> {
        let channel = self.live.remove(&child).flatten()?;
        Some((child, channel))
    }

    /// Ends every child at once and waits for each.
    pub(crate) fn kill_all(&mut self) {
        for child in self.live.keys() {
            let _ = kill(*child, Signal::SIGKILL);
        }
        for (child, _) in self.live.drain() {
            let _ = waitpid(child, None);
        }
    }

    /// In a child: forgets its siblings and closes the parent's ends of their channels.
    pub(crate) fn release_in_child(&mut self) {
        self.live.clear();
    }
}
