//! Every descendant of a task ends with it, including those that left its process group.
//!
//! A task runs in a process group of its own, killed when the task ends (and on timeout and
//! cancel), so `cmd &`, `nohup cmd &` and subshells end with it. A process that leaves the
//! group (`setsid cmd &`, a daemon's double fork) escapes that kill, and when its parent exits
//! it is reparented to init and runs on, unreported.
//!
//! The process that runs tasks therefore makes itself a child subreaper ([`adopt_orphans`]):
//! such an orphan is reparented to Tidewater instead. Tidewater's children are otherwise only
//! the task processes it started, each listed here while it runs ([`Registry`]); after
//! attempts have ended, [`end_escaped`] looks at Tidewater's children for others, attributes
//! each to its attempt by the marker in its environment, and kills it, with its group and
//! session, unless its attempt still runs. It also reaps adopted processes that ended by
//! themselves, so that a long-running server collects no zombies. With nothing escaped, the
//! look costs one `pread` of `/proc/self/task/<pid>/children`, made once the next task has
//! started (`ShRunner::settle`), not between one task's end and the next one's start: a chain
//! of 50 `sh: "true"` tasks made 53.4 system calls per attempt on the executor's thread
//! before, 54.1 after (`perf stat -e raw_syscalls:sys_enter`). Listing the task processes
//! ([`Registry`]) takes an uncontended lock, no system call.
//!
//! A cgroup per attempt would hold escaped processes without a subreaper, and could kill them
//! all at once; but cgroups v2 with a subtree Tidewater may write are not available everywhere
//! it runs (the machine it was developed on has a v1 hierarchy, mixed, under
//! `/sys/fs/cgroup`), so the subreaper is the mechanism, on Linux.
//!
//! Children are reaped only by pid, never with `waitpid(-1)`: tokio and
//! [`crate::task_process`] reap the task processes by pid, and a wildcard wait would take
//! their exit statuses. For the same reason a process that calls [`adopt_orphans`] starts no
//! children except through [`crate::task_process`] (the `tidewater` binary starts none): any
//! other child would be taken for an escaped process.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tidewater_core::ProcessIdentity;

use crate::process::{ATTEMPT_MARKER, signal_group};

/// Whether this process adopts orphans; until [`adopt_orphans`], [`end_escaped`] does nothing.
static IS_SUBREAPER: AtomicBool = AtomicBool::new(false);

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    tasks: Vec::new(),
    unmarked: Vec::new(),
});

/// Makes this process the one that orphaned descendants of its tasks are reparented to.
/// Called by every process that runs tasks, before it starts any.
pub fn adopt_orphans() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sets a flag of this process; the arguments are plain integers.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        IS_SUBREAPER.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// The task processes of this process, and the adopted processes without a marker seen so far.
pub(crate) struct Registry {
    tasks: Vec<LiveTask>,
    unmarked: Vec<Unmarked>,
}

/// A task process started here and not yet reaped, and its attempt's marker.
struct LiveTask {
    pid: i32,
    marker: Option<OsString>,
}

/// An adopted process whose environment carries no marker (it cleared it): it is taken to
/// belong to one of the attempts that were running when it was first seen, and ended once
/// none of them runs any more.
struct Unmarked {
    process: ProcessIdentity,
    markers: Vec<OsString>,
}

/// The registry, held while a task process is started and listed, so that a look at the
/// children in between cannot take the new process (or, should it end at once, its zombie)
/// for an adopted one.
pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// Lists a task process just started, with its attempt's marker from its environment.
    pub(crate) fn add(&mut self, pid: i32, env: &[(OsString, OsString)]) {
        let marker = env
            .iter()
            .rev()
            .find(|(key, _)| key == ATTEMPT_MARKER)
            .map(|(_, value)| value.clone());
        self.tasks.push(LiveTask { pid, marker });
    }

    /// Forgets a task process once its attempt is over: it has been reaped, and its output
    /// copied (or it will not be waited for any more). Until then its attempt counts as
    /// running, and the processes that escaped from it are left alone unless the attempt
    /// itself asks to end them ([`end_escaped`]'s `ending`).
    pub(crate) fn remove(&mut self, pid: i32) {
        if let Some(index) = self.tasks.iter().position(|task| task.pid == pid) {
            self.tasks.swap_remove(index);
        }
    }

    /// Whether the attempt with this marker runs, other than the one `ending`.
    fn is_running(&self, marker: &OsStr, ending: Option<&OsStr>) -> bool {
        Some(marker) != ending
            && self
                .tasks
                .iter()
                .any(|task| task.marker.as_deref() == Some(marker))
    }
}

/// A process that outlived its attempt and was killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Escaped {
    pub pid: i32,
    /// Its command line, shortened.
    pub command: String,
    /// Its attempt's marker, if its environment still had one.
    pub marker: Option<OsString>,
    /// Its process group. A member of a task's own group, caught between that group's kill
    /// and its end, is killed again (harmlessly) but has not escaped anything.
    pub group: i32,
}

/// How long [`end_escaped`] waits for the processes it killed to end, so that it can reap
/// them and find their own escaped children, reparented to this process when they ended.
const KILLED_WAIT: Duration = Duration::from_secs(1);

/// Kills the adopted processes whose attempt has ended (or is `ending`: the attempt with that
/// marker, whose process has ended), but those of the attempts `spared` (whose own end will
/// see to them), and reaps adopted processes that have ended. Returns the ones it killed.
/// Does nothing unless [`adopt_orphans`] was called. Blocks for at most [`KILLED_WAIT`], and
/// only when it killed something.
pub(crate) fn end_escaped(ending: Option<&OsStr>, spared: &[OsString]) -> Vec<Escaped> {
    if !IS_SUBREAPER.load(Ordering::Relaxed) {
        return Vec::new();
    }
    let mut ended = Vec::new();
    let give_up = Instant::now() + KILLED_WAIT;
    loop {
        let killed = end_escaped_once(ending, spared);
        if killed.is_empty() {
            return ended;
        }
        // Killed processes end within microseconds; once they have, the escaped processes
        // they had started are this process's children too, and the next round finds them.
        let pids: Vec<i32> = killed.iter().map(|escaped| escaped.pid).collect();
        ended.extend(killed);
        while pids.iter().any(|&pid| is_alive_child(pid)) {
            if Instant::now() >= give_up {
                return ended;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn end_escaped_once(ending: Option<&OsStr>, spared: &[OsString]) -> Vec<Escaped> {
    let mut registry = registry();
    let children = own_children();
    let adopted: Vec<i32> = children
        .into_iter()
        .filter(|&pid| !registry.tasks.iter().any(|task| task.pid == pid))
        .collect();
    registry
        .unmarked
        .retain(|unmarked| adopted.contains(&unmarked.process.pid));
    let mut killed = Vec::new();
    for pid in adopted {
        let Some(stat) = Stat::read(pid) else {
            continue;
        };
        if stat.is_ended {
            reap(pid);
            continue;
        }
        let marker = marker(pid);
        let belongs_to_a_running_attempt = match &marker {
            Some(marker) => {
                registry.is_running(marker, ending)
                    || (Some(marker.as_os_str()) != ending && spared.contains(marker))
            }
            None => {
                let running: Vec<OsString> = registry
                    .tasks
                    .iter()
                    .filter_map(|task| task.marker.clone())
                    .collect();
                let first_seen = match registry
                    .unmarked
                    .iter()
                    .position(|unmarked| unmarked.process == stat.identity)
                {
                    Some(index) => index,
                    None => {
                        registry.unmarked.push(Unmarked {
                            process: stat.identity,
                            markers: running,
                        });
                        registry.unmarked.len() - 1
                    }
                };
                registry.unmarked[first_seen]
                    .markers
                    .iter()
                    .any(|marker| registry.is_running(marker, ending))
            }
        };
        if belongs_to_a_running_attempt {
            continue;
        }
        let command = command_line(pid);
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        // Its group and session too (never this process's own): what it started goes with it.
        let own = Stat::read(std::process::id() as i32);
        if own.as_ref().is_none_or(|own| own.group != stat.group) {
            signal_group(stat.group, Signal::SIGKILL);
        }
        if stat.session > 1 && own.as_ref().is_none_or(|own| own.session != stat.session) {
            kill_session(stat.session);
        }
        killed.push(Escaped {
            pid,
            command,
            marker,
            group: stat.group,
        });
    }
    killed
}

/// The pids of this process's children, from the children file of its main thread: orphans
/// are reparented to a subreaper's first living thread, the main one (`find_new_reaper` in the
/// kernel's `exit.c`), and the tasks are started from it too (the runtime has one thread). The
/// file stays open: a look is one `pread`.
fn own_children() -> Vec<i32> {
    static CHILDREN: OnceLock<Option<File>> = OnceLock::new();
    let file = CHILDREN.get_or_init(|| {
        let pid = std::process::id();
        File::open(format!("/proc/{pid}/task/{pid}/children")).ok()
    });
    let Some(file) = file else {
        return Vec::new();
    };
    let mut buffer = vec![0; 4096];
    let mut length = 0;
    loop {
        match file.read_at(&mut buffer[length..], length as u64) {
            Ok(read) => {
                length += read;
                // A proc file's read fills the buffer with as much as fits: a read that
                // leaves room has reached the end, and a second read to be told so would be
                // a system call per look.
                if length < buffer.len() {
                    break;
                }
                buffer.resize(buffer.len() * 2, 0);
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buffer[..length])
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// What [`end_escaped`] needs of `/proc/<pid>/stat`.
struct Stat {
    identity: ProcessIdentity,
    group: i32,
    session: i32,
    /// A zombie: it has ended and waits to be reaped.
    is_ended: bool,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) may hold spaces and parentheses: the fields after it
        // are counted from the last ')'.
        let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
        let state = fields.next()?;
        let _parent = fields.next()?;
        let group = fields.next()?.parse().ok()?;
        let session = fields.next()?.parse().ok()?;
        // Field 22 (starttime) is the 16th after the session (field 6).
        let start_ticks = fields.nth(15)?.parse().ok()?;
        Some(Stat {
            identity: ProcessIdentity { pid, start_ticks },
            group,
            session,
            is_ended: state == "Z" || state == "X",
        })
    }
}

/// Whether `pid` is a child of this process that has not ended yet.
fn is_alive_child(pid: i32) -> bool {
    match Stat::read(pid) {
        Some(stat) if stat.is_ended => {
            reap(pid);
            false
        }
        Some(_) => true,
        None => false,
    }
}

/// Reaps an adopted child that has ended.
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waits for one specific child of this process, which no one else waits for (it
    // is not a task process), writing its status into a local.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// The attempt marker in a process's environment (as it was when it started its program).
fn marker(pid: i32) -> Option<OsString> {
    let path = format!("/proc/{pid}/environ");
    let mut environ = std::fs::read(&path).ok()?;
    // A process in the middle of `execve` shows an empty environment for a moment (its new
    // memory has no environment yet): look again before taking it for one without a marker.
    for _ in 0..5 {
        if !environ.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        environ = std::fs::read(&path).ok()?;
    }
    let prefix = [ATTEMPT_MARKER.as_bytes(), b"="].concat();
    environ
        .split(|&byte| byte == 0)
        .find_map(|variable| variable.strip_prefix(prefix.as_slice()))
        .map(|value| OsStr::from_bytes(value).to_owned())
}

/// A process's command line for a log line: its arguments joined by spaces, at most 200
/// characters.
fn command_line(pid: i32) -> String {
    let arguments = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut command: String = arguments
        .split(|&byte| byte == 0)
        .filter(|argument| !argument.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    if command.chars().count() > 200 {
        command = command.chars().take(199).chain(['…']).collect();
    }
    command
}

/// Kills every process of a session: members of its other process groups are not reached by
/// killing the leader's group.
fn kill_session(session: i32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
    {
        if Stat::read(pid).is_some_and(|stat| stat.session == session && !stat.is_ended) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_fields_are_read_from_the_right_places() {
        let pid = std::process::id() as i32;
        let stat = Stat::read(pid).expect("this process exists");
        assert_eq!(Some(stat.identity), crate::process::process_identity(pid));
        // SAFETY: plain queries about this process.
        let (group, session) = unsafe { (libc::getpgrp(), libc::getsid(0)) };
        assert_eq!((stat.group, stat.session), (group, session));
        assert!(!stat.is_ended);
    }
}
