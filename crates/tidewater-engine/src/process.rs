//! Finding and stopping task processes, including ones left behind by a crashed supervisor.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tidewater_core::ProcessIdentity;

/// The environment variable that marks every process of an attempt (inherited by its
/// children), so that recovery can find them even if the supervisor died before it recorded
/// the pid.
pub const ATTEMPT_MARKER: &str = "TIDEWATER_ATTEMPT_KEY";

/// The identity of a live process, or `None` if there is no such process. This process's
/// identity as a run's owner is [`crate::Owners::me`]'s to say.
pub fn process_identity(pid: i32) -> Option<ProcessIdentity> {
    identity_and_group(pid).map(|(identity, _)| identity)
}

/// The identity of a live process and its process group, from `/proc/<pid>/stat`.
fn identity_and_group(pid: i32) -> Option<(ProcessIdentity, i32)> {
    let path = format!("/proc/{pid}/stat");
    let mut buffer = [0u8; STAT_BUFFER_BYTES];
    match read_if_small(&path, &mut buffer) {
        Ok(Some(stat)) => parse_stat(pid, std::str::from_utf8(stat).ok()?),
        Ok(None) => parse_stat(pid, &std::fs::read_to_string(&path).ok()?),
        Err(_) => None,
    }
}

/// The pids of every process, from the numbered entries of `/proc`.
fn all_pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// Room for `/proc/<pid>/stat` as it is in practice (about 300 bytes: 52 numbers after a
/// name of at most 64 bytes); a longer one is read the ordinary way.
const STAT_BUFFER_BYTES: usize = 1024;

/// Reads a whole file into `buffer`, or `None` if it does not fit. Every attempt start
/// reads its new process's stat file: `read_to_string`'s size probe and small first reads
/// make that nine system calls on a proc file, this four.
fn read_if_small<'a>(path: &str, buffer: &'a mut [u8]) -> std::io::Result<Option<&'a [u8]>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut length = 0;
    while length < buffer.len() {
        match file.read(&mut buffer[length..]) {
            Ok(0) => return Ok(Some(&buffer[..length])),
            Ok(read) => length += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

fn parse_stat(pid: i32, stat: &str) -> Option<(ProcessIdentity, i32)> {
    // The command name (field 2) may contain spaces and parentheses: fields after it are
    // counted from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None; // A zombie has finished; it only waits to be reaped.
    }
    // Field 5 (pgrp) is the 2nd after the state (field 3); field 22 (starttime) the 17th
    // after the group.
    let group = fields.nth(1)?.parse().ok()?;
    let start_ticks = fields.nth(16)?.parse().ok()?;
    Some((ProcessIdentity { pid, start_ticks }, group))
}

/// Every live process in one of `groups`. A task's process group can hold processes that
/// carry no attempt marker (one that cleared its environment): killing the group reaches
/// them, and this finds them to wait for.
pub(crate) fn group_members(groups: &[i32]) -> Vec<ProcessIdentity> {
    if groups.is_empty() {
        return Vec::new();
    }
    all_pids()
        .filter_map(|pid| {
            let (identity, group) = identity_and_group(pid)?;
            groups.contains(&group).then_some(identity)
        })
        .collect()
}

/// Whether the process is still the one recorded (pids are reused). The engine asks this of
/// task processes, which are local by nature.
///
/// For a task's process; a run's owner is asked through [`crate::Owners::is_alive`]
/// ([`crate::LocalProcesses`] answers with this), which other kinds of owner can answer too.
pub fn is_alive(identity: ProcessIdentity) -> bool {
    process_identity(identity.pid) == Some(identity)
}

/// Sends a signal to a whole process group. A group that no longer exists is not an error.
pub fn signal_group(group: i32, signal: Signal) {
    if group > 1 {
        let _ = killpg(Pid::from_raw(group), signal);
    }
}

/// Kills every process whose environment carries `ATTEMPT_MARKER=key`, and their groups.
/// Returns the processes it killed.
pub fn kill_marked(key: &str) -> Vec<ProcessIdentity> {
    let needle = format!("{ATTEMPT_MARKER}={key}");
    let mut killed = Vec::new();
    for pid in all_pids() {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let is_marked = environ
            .split(|&byte| byte == 0)
            .any(|variable| variable == needle.as_bytes());
        if is_marked && pid != std::process::id() as i32 {
            // Taken before the kill: a killed process may be gone (and its pid free) by the
            // time anyone asks.
            let identity = process_identity(pid);
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            signal_group(pid, Signal::SIGKILL);
            killed.extend(identity);
        }
    }
    killed
}

/// Kills (with their groups) the processes whose attempt marker starts with `prefix` and
/// whose owner, the text between `prefix` and the next `#`, `is_owner_alive` says is dead:
/// what a killed `tidewater worker`'s tasks left behind on this host. Returns them.
pub fn kill_orphaned_marked(
    prefix: &str,
    is_owner_alive: impl Fn(&str) -> bool,
) -> Vec<ProcessIdentity> {
    let needle = format!("{ATTEMPT_MARKER}={prefix}");
    let mut killed = Vec::new();
    for pid in all_pids() {
        if pid == std::process::id() as i32 {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let owner = environ
            .split(|&byte| byte == 0)
            .find_map(|variable| variable.strip_prefix(needle.as_bytes()))
            .and_then(|rest| rest.split(|&byte| byte == b'#').next())
            .map(|owner| String::from_utf8_lossy(owner).into_owned());
        let Some(owner) = owner else {
            continue;
        };
        if is_owner_alive(&owner) {
            continue;
        }
        let identity = process_identity(pid);
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        if let Some((_, group)) = identity_and_group(pid) {
            signal_group(group, Signal::SIGKILL);
        }
        killed.extend(identity);
    }
    killed
}

/// How long [`wait_until_gone`] waits at most, and how often it looks.
const GONE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const GONE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// Waits, for at most 5 seconds, until none of `processes` is alive any more. A process sent
/// SIGKILL is not gone when `kill` returns: the kernel still has to finish it (close its
/// files, release its memory). Returns whether they all ended in time.
pub(crate) async fn wait_until_gone(processes: &[ProcessIdentity]) -> bool {
    let give_up = std::time::Instant::now() + GONE_WAIT;
    loop {
        if !processes.iter().any(|&process| is_alive(process)) {
            return true;
        }
        if std::time::Instant::now() >= give_up {
            return false;
        }
        tokio::time::sleep(GONE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_killed_group_is_waited_for_with_its_unmarked_members() {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        // A member that cleared its environment carries no attempt marker; only its group
        // finds it.
        let mut shell = std::process::Command::new("/bin/sh")
            .args(["-c", "env -i /bin/sleep 600 & echo $!; wait"])
            .process_group(0)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("started");
        let group = shell.id() as i32;
        let mut line = String::new();
        std::io::BufReader::new(shell.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the sleeper's pid");
        let sleeper: i32 = line.trim().parse().expect("a pid");
        let members = group_members(&[group]);
        let pids: Vec<i32> = members.iter().map(|member| member.pid).collect();
        assert!(pids.contains(&group) && pids.contains(&sleeper), "{pids:?}");
        assert!(group_members(&[]).is_empty());
        signal_group(group, Signal::SIGKILL);
        assert!(wait_until_gone(&members).await);
        assert!(
            process_identity(sleeper).is_none(),
            "the unmarked member outlived the wait"
        );
        let _ = shell.wait();
    }

    #[test]
    fn own_process_has_a_stable_identity() {
        let pid = std::process::id() as i32;
        let identity = process_identity(pid).expect("this process exists");
        assert_eq!(process_identity(pid), Some(identity));
        assert!(is_alive(identity));
        assert!(!is_alive(ProcessIdentity {
            pid,
            start_ticks: identity.start_ticks + 1
        }));
    }

    #[test]
    fn a_process_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(
            parse_stat(42, stat),
            Some((
                ProcessIdentity {
                    pid: 42,
                    start_ticks: 987_654
                },
                42
            ))
        );
        assert_eq!(parse_stat(42, &stat.replace(" S ", " Z ")), None);
    }

    #[test]
    fn a_process_that_does_not_exist_has_no_identity() {
        // Beyond the largest pid Linux hands out (2^22).
        assert_eq!(process_identity(i32::MAX), None);
    }
}
