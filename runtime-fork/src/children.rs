//! The parent's live children: their channels, the admission slots they hold, and reaping.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use pgexporter_core::serve::Slot;

use crate::channel::Channel;

/// The live children, by process id, with the slot each holds and the parent's end of each
/// one's channel (`None` once the child closed it).
#[derive(Debug, Default)]
pub(crate) struct Children {
    live: HashMap<Pid, (Slot, Option<Channel>)>,
}

impl Children {
    /// Whether no child is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Records a child just forked, holding `slot`.
    pub(crate) fn insert(&mut self, child: Pid, slot: Slot, channel: Channel) {
        self.live.insert(child, (slot, Some(channel)));
    }

    /// The open channels, for `poll`.
    pub(crate) fn channels(&self) -> impl Iterator<Item = (Pid, &Channel)> {
        self.live
            .iter()
            .filter_map(|(child, (_, channel))| Some((*child, channel.as_ref()?)))
    }

    /// The channel of `child`, while open.
    pub(crate) fn channel_mut(&mut self, child: Pid) -> Option<&mut Channel> {
        self.live.get_mut(&child)?.1.as_mut()
    }

    /// Closes the parent's end of `child`'s channel (the child closed its end or misbehaved).
    pub(crate) fn close_channel(&mut self, child: Pid) {
        if let Some((_, channel)) = self.live.get_mut(&child) {
            *channel = None;
        }
    }

    /// Collects every child that has exited, without waiting. Their slots are returned, and
    /// their open channels: what a child sent just before it exited may still be unread there.
    pub(crate) fn reap(&mut self) -> Vec<(Pid, Slot, Option<Channel>)> {
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

    fn forget(&mut self, child: Pid) -> Option<(Pid, Slot, Option<Channel>)> {
        let (slot, channel) = self.live.remove(&child)?;
        Some((child, slot, channel))
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
