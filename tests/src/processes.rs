//! The processes of a running daemon, read from `/proc`.

use std::fs;
use std::path::PathBuf;

/// Every process, by id, with its directory under `/proc`.
pub fn processes() -> Vec<(u32, PathBuf)> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, entry.path()))
        })
        .collect()
}

/// The processes whose parent is `pid`, with their state letter (`Z` for a zombie).
pub fn children_of(pid: u32) -> Vec<(u32, char)> {
    let mut children = Vec::new();
    for (child, directory) in processes() {
        let Ok(stat) = fs::read_to_string(directory.join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|state| state.chars().next());
        let parent = fields.next().and_then(|parent| parent.parse::<u32>().ok());
        if let (Some(state), Some(parent)) = (state, parent)
            && parent == pid
        {
            children.push((child, state));
        }
    }
    children
}
