//! Starting a task's process and waiting for it.
//!
//! A chain of short tasks is bound by what it costs to start each process: the executor and
//! its task take turns on one core, so every system call between one task's end and the next
//! one's start counts. The standard library starts a process with glibc's `posix_spawn`
//! (vfork semantics), whose child resets every signal's disposition one system call at a
//! time (about 64 `rt_sigaction`s, on the critical path because the parent waits), and whose
//! parent checks its file actions against the open-file limit (6 `prlimit64`s) and maps a
//! stack for the child each time. On x86_64 Linux (with the `clone3` feature, on by default),
//! [`spawn`] does the same with one
//! `clone3(CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD)`: the kernel clears the
//! signal handlers and hands over a pidfd (to wait on, instead of opening one afterwards), and
//! the child runs a handful of raw system calls before `execve`. That is about 35 µs less per
//! process here, and a chain of 50 `sh: "true"` tasks 6–9% faster (BENCHMARKS.md).
//!
//! Where `clone3` is missing or refused (kernels before 5.5, seccomp filters of older
//! container runtimes) and on other targets, the process is started by tokio's `Command`, as
//! before; the rest of the engine sees no difference.

use std::ffi::OsString;
use std::io;
#[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncRead;

use crate::subreaper;

/// A started process: its pid, how to wait for it, and the read ends of its stdout and
/// stderr.
pub(crate) struct TaskProcess {
    pid: i32,
    exit: Exit,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
}

enum Exit {
    #[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
    Pidfd(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    Tokio(tokio::process::Child),
    Reaped(ExitStatus),
}

/// What to start: `program` with `args`, the environment of this process with `env` on
/// top, in `dir`, stdin from `/dev/null`, stdout and stderr into pipes, in a process group of
/// its own.
pub(crate) struct ProcessSpec<'a> {
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub env: Vec<(OsString, OsString)>,
    pub dir: &'a Path,
}

impl TaskProcess {
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the process to end (and reaps it).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        match &mut self.exit {
            #[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
            Exit::Pidfd(pidfd) => loop {
                let mut ready = pidfd.readable().await?;
                let mut status = 0;
                // SAFETY: waits for our own child, writing its status into a local.
                let reaped = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
                if reaped == self.pid {
                    let status = ExitStatus::from_raw(status);
                    self.exit = Exit::Reaped(status);
                    return Ok(status);
                }
                if reaped < 0 {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
                ready.clear_ready();
            },
            Exit::Tokio(child) => {
                let status = child.wait().await?;
                self.exit = Exit::Reaped(status);
                Ok(status)
            }
            Exit::Reaped(status) => Ok(*status),
        }
    }
}

impl Drop for TaskProcess {
    /// A process dropped unreaped (its supervisor was stopped) is reaped if it has ended, so
    /// that it does not linger as a zombie; one still running is left to run. Either way it
    /// is no longer a known task process, and its attempt is over (see [`subreaper`]).
    fn drop(&mut self) {
        #[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
        if let Exit::Pidfd(_) = self.exit {
            let mut status = 0;
            // SAFETY: as in `wait`.
            unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        }
        subreaper::registry().remove(self.pid);
    }
}

/// Starts a process as [`ProcessSpec`] says, listed as a task process (see [`subreaper`])
/// until the [`TaskProcess`] is dropped.
pub(crate) fn spawn(spec: &ProcessSpec<'_>) -> io::Result<TaskProcess> {
    // Held from before the process exists until it is listed (an uncontended lock: no
    // system call).
    let mut registry = subreaper::registry();
    let process = spawn_unlisted(spec)?;
    registry.add(process.pid, &spec.env);
    Ok(process)
}

/// Set by [`tasks_die_with_this_process`].
static TASKS_DIE_WITH_US: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every task process started from now on get SIGKILL when this process dies
/// (`PR_SET_PDEATHSIG`), for `tidewater worker`: a worker that is killed must leave no task
/// running on to finish its work a second time beside the attempt's retry on another worker.
/// Only the group's leader gets the signal; what it started is found by its attempt marker
/// by the next worker on the host ([`crate::kill_orphaned_marked`]). Such processes
/// are started by tokio's `Command` (its `pre_exec` runs the `prctl`), not by `clone3`.
pub fn tasks_die_with_this_process() {
    TASKS_DIE_WITH_US.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn spawn_unlisted(spec: &ProcessSpec<'_>) -> io::Result<TaskProcess> {
    #[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
    if !TASKS_DIE_WITH_US.load(std::sync::atomic::Ordering::Relaxed) {
        use std::sync::atomic::{AtomicBool, Ordering};
        static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
        if !UNAVAILABLE.load(Ordering::Relaxed) {
            match clone3::spawn(spec)? {
                Some(process) => return Ok(process),
                None => UNAVAILABLE.store(true, Ordering::Relaxed),
            }
        }
    }
    spawn_with_tokio(spec)
}

/// Signals a Tidewater process ignores that a task must get at their default: SIGPIPE (Rust's
/// runtime ignores it), SIGXFSZ (the binary ignores it, so that a write past the file-size
/// limit fails with EFBIG, which the store and the logs report, instead of killing Tidewater
/// and leaving its runs orphaned) and SIGUSR1 (the binary ignores it until it listens for
/// wake-ups, so that a wake-up meant for a process whose pid it now has cannot kill it).
const IGNORED_IN_TIDEWATER: [libc::c_int; 3] = [libc::SIGPIPE, libc::SIGXFSZ, libc::SIGUSR1];

fn spawn_with_tokio(spec: &ProcessSpec<'_>) -> io::Result<TaskProcess> {
    let mut command = tokio::process::Command::new(spec.program);
    let dies_with_us = TASKS_DIE_WITH_US.load(std::sync::atomic::Ordering::Relaxed);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec only `signal`, `prctl`, `getppid` and `_exit`, which are
    // async-signal-safe. (std resets SIGPIPE itself; SIGXFSZ it does not know about.)
    unsafe {
        command.pre_exec(move || {
            for signal in IGNORED_IN_TIDEWATER {
                libc::signal(signal, libc::SIG_DFL);
            }
            if dies_with_us {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                // The parent may have died before the `prctl`: then nobody sends the signal.
                if libc::getppid() != parent {
                    libc::_exit(137);
                }
            }
            Ok(())
        });
    }
    command
        .args(spec.args)
        .current_dir(spec.dir)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = command.spawn()?;
    // Known until the child has been waited for, which it has not yet. (0 would only ever
    // be passed to `signal_group`, which ignores it.)
    let pid = child.id().map_or(0, |pid| pid as i32);
    let stdout = child
        .stdout
        .take()
        .map(|stream| Box::new(stream) as Box<dyn AsyncRead + Send + Unpin>);
    let stderr = child
        .stderr
        .take()
        .map(|stream| Box::new(stream) as Box<dyn AsyncRead + Send + Unpin>);
    Ok(TaskProcess {
        pid,
        exit: Exit::Tokio(child),
        stdout,
        stderr,
    })
}

#[cfg(all(feature = "clone3", target_os = "linux", target_arch = "x86_64"))]
mod clone3 {
    use std::ffi::{CString, OsStr, OsString, c_char, c_int};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicI32, Ordering};

    use tokio::io::AsyncRead;
    use tokio::io::unix::AsyncFd;
    use tokio::net::unix::pipe;

    use super::{Exit, ProcessSpec, TaskProcess};

    /// This process's environment as `KEY=VALUE` strings, read once. Tidewater never changes
    /// its own environment (no `set_var` or `remove_var` anywhere), so reading it again for
    /// every spawn, two allocations per variable, would only find the same values.
    fn inherited() -> &'static [CString] {
        static INHERITED: OnceLock<Vec<CString>> = OnceLock::new();
        INHERITED.get_or_init(|| {
            std::env::vars_os()
                // An inherited variable cannot hold a NUL byte: it came as a C string.
                .filter_map(|(key, value)| CString::new(key_value(&key, &value)).ok())
                .collect()
        })
    }

    fn key_value(key: &OsStr, value: &OsStr) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(key.len() + value.len() + 1);
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(b'=');
        bytes.extend_from_slice(value.as_bytes());
        bytes
    }

    /// `KEY=VALUE` for every variable of this process's environment not in `env` (shared,
    /// not copied), then `env`'s (the last of a key's entries wins), and the pointers
    /// `execve` takes, ending with a null one. `_ours` owns the strings of `env` it points to.
    struct Environment {
        envp: Vec<*const c_char>,
        _ours: Vec<CString>,
    }

    fn environment(env: &[(OsString, OsString)]) -> io::Result<Environment> {
        let entry = |key: &OsStr, value: &OsStr| {
            CString::new(key_value(key, value)).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the environment variable {} holds a NUL byte",
                        key.to_string_lossy()
                    ),
                )
            })
        };
        let overridden = |inherited: &CString| {
            let inherited = inherited.as_bytes();
            env.iter().any(|(key, _)| {
                let key = key.as_bytes();
                inherited.len() > key.len()
                    && inherited.starts_with(key)
                    && inherited[key.len()] == b'='
            })
        };
        let mut ours = Vec::with_capacity(env.len());
        for (index, (key, value)) in env.iter().enumerate() {
            if !env[index + 1..].iter().any(|(later, _)| later == key) {
                ours.push(entry(key, value)?);
            }
        }
        let inherited = inherited();
        let mut envp = Vec::with_capacity(inherited.len() + ours.len() + 1);
        envp.extend(
            inherited
                .iter()
                .filter(|inherited| !overridden(inherited))
                .map(|inherited| inherited.as_ptr()),
        );
        envp.extend(ours.iter().map(|entry| entry.as_ptr()));
        envp.push(std::ptr::null());
        Ok(Environment { envp, _ours: ours })
    }

    fn c_string(text: &[u8], what: &str) -> io::Result<CString> {
        CString::new(text).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the {what} holds a NUL byte"),
            )
        })
    }

    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
    /// The child's stack: it calls a few system calls and `execve`, nothing more.
    const STACK_BYTES: usize = 16 * 1024;

    /// `struct clone_args` of `linux/sched.h`, up to `stack_size` (`CLONE_ARGS_SIZE_VER0`).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
    }

    /// What the child needs, prepared by the parent: the child shares the parent's memory
    /// until `execve` and must not allocate, lock or touch thread-local state.
    #[repr(C)]
    struct ChildSetup {
        path: *const c_char,
        argv: *const *const c_char,
        envp: *const *const c_char,
        dir: *const c_char,
        /// stdin, stdout and stderr, in that order.
        fds: [c_int; 3],
        /// The errno of the step that failed, set by the child before it exits.
        error: AtomicI32,
    }

    /// The child's stack, one per thread: a thread's spawns take turns, since the parent
    /// thread waits while the child runs on it (vfork semantics).
    #[repr(C, align(16))]
    struct Stack([u8; STACK_BYTES]);

    thread_local! {
        static STACK: std::cell::RefCell<Box<Stack>> =
            std::cell::RefCell::new(Box::new(Stack([0; STACK_BYTES])));
    }

    fn dev_null() -> io::Result<c_int> {
        static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();
        if let Some(fd) = DEV_NULL.get() {
            return Ok(fd.as_raw_fd());
        }
        let file = std::fs::File::open("/dev/null")?;
        Ok(DEV_NULL.get_or_init(|| file.into()).as_raw_fd())
    }

    /// A pipe, both ends close-on-exec: (read end, write end).
    fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`, which we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just opened and are owned by no one else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    fn reader(fd: OwnedFd) -> io::Result<Box<dyn AsyncRead + Send + Unpin>> {
        // SAFETY: sets a flag on a descriptor we own. The read end only: the write end is
        // the child's stdout or stderr, which a program expects blocking.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Box::new(pipe::Receiver::from_owned_fd_unchecked(fd)?))
    }

    /// Starts the process, or returns `None` if this kernel has no `clone3` with these
    /// flags (ENOSYS before 5.3, EINVAL before 5.5) or a seccomp filter refuses it (EPERM,
    /// ENOSYS).
    pub(super) fn spawn(spec: &ProcessSpec<'_>) -> io::Result<Option<TaskProcess>> {
        let path = c_string(spec.program.as_bytes(), "program path")?;
        let mut args = vec![path.clone()];
        for arg in spec.args {
            args.push(c_string(arg.as_bytes(), "command")?);
        }
        let env = environment(&spec.env)?;
        let dir = c_string(spec.dir.as_os_str().as_bytes(), "project folder")?;
        let argv = null_terminated(&args);
        let stdin = dev_null()?;
        let (stdout_read, stdout_write) = pipe_pair()?;
        let (stderr_read, stderr_write) = pipe_pair()?;
        let setup = ChildSetup {
            path: path.as_ptr(),
            argv: argv.as_ptr(),
            envp: env.envp.as_ptr(),
            dir: dir.as_ptr(),
            fds: [stdin, stdout_write.as_raw_fd(), stderr_write.as_raw_fd()],
            error: AtomicI32::new(0),
        };
        let mut pidfd: c_int = -1;
        let pid = STACK.with(|stack| {
            let mut stack = stack.borrow_mut();
            let args = CloneArgs {
                flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64
                    | CLONE_CLEAR_SIGHAND,
                pidfd: std::ptr::from_mut(&mut pidfd) as u64,
                child_tid: 0,
                parent_tid: 0,
                exit_signal: libc::SIGCHLD as u64,
                stack: stack.0.as_mut_ptr() as u64,
                stack_size: STACK_BYTES as u64,
                tls: 0,
            };
            // SAFETY: every signal is blocked around the clone so that none is handled in
            // the child before the kernel has cleared the handlers; the child runs
            // `child_main` on its own stack with `setup`, both alive until it has exec'd or
            // exited, which is when clone3 returns here (CLONE_VFORK).
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                let mut previous: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
                let pid = clone3(&args, &setup);
                libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                pid
            }
        });
        drop(stdout_write);
        drop(stderr_write);
        if pid < 0 {
            let error = (-pid) as i32;
            if matches!(error, libc::ENOSYS | libc::EINVAL | libc::EPERM) {
                return Ok(None);
            }
            return Err(io::Error::from_raw_os_error(error));
        }
        let pid = pid as i32;
        // SAFETY: the kernel opened it for us (CLONE_PIDFD, close-on-exec).
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        let error = setup.error.load(Ordering::Relaxed);
        if error != 0 {
            // The child failed before or at execve and has exited: reap it.
            let mut status = 0;
            // SAFETY: our own child, which has exited.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return Err(io::Error::from_raw_os_error(error));
        }
        // Kept alive until here: the child read them.
        drop((argv, args, env, path, dir));
        // SAFETY: the AsyncFd owns the pidfd, which nothing else closes or replaces.
        let pidfd =
            unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)? };
        Ok(Some(TaskProcess {
            pid,
            exit: Exit::Pidfd(pidfd),
            stdout: Some(reader(stdout_read)?),
            stderr: Some(reader(stderr_read)?),
        }))
    }

    fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
        strings
            .iter()
            .map(|string| string.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// `clone3`, with the child calling `child_main(setup)` on the new stack. Returns the
    /// child's pid, or `-errno`.
    ///
    /// # Safety
    /// `args` must describe a valid stack; `setup` must stay valid until the call returns.
    unsafe fn clone3(args: &CloneArgs, setup: &ChildSetup) -> isize {
        let result: isize;
        // SAFETY: see the function's contract. In the child (rax == 0) the kernel has
        // switched to the new stack, aligned to 16 bytes; the call below never returns.
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 as isize => result,
                in("rdi") std::ptr::from_ref(args),
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") std::ptr::from_ref(setup),
                in("r13") child_main as *const () as usize,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result
    }

    /// A system call without errno (thread-local, which the child must not touch).
    #[inline(always)]
    unsafe fn syscall4(number: i64, a: usize, b: usize, c: usize, d: usize) -> isize {
        let result: isize;
        // SAFETY: the caller passes a valid system call and arguments.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") number as isize => result,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result
    }

    /// The kernel's `struct sigaction` on x86_64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }

    /// The child, between clone3 and execve. Only raw system calls: it shares the parent's
    /// memory and thread-local state.
    unsafe extern "C" fn child_main(setup: &ChildSetup) -> ! {
        // SAFETY: raw system calls on values the parent prepared and keeps alive.
        unsafe {
            // A step that failed ends the child, leaving its errno for the parent.
            let must = |result: isize| {
                if result < 0 {
                    setup.error.store((-result) as i32, Ordering::Relaxed);
                    syscall4(libc::SYS_exit_group, 127, 0, 0, 0);
                }
            };
            // Ignored signals stay ignored across execve; Rust's runtime ignores SIGPIPE and
            // the binary ignores SIGXFSZ (see `IGNORED_IN_TIDEWATER`), which a command expects
            // at their default (as std's Command sets SIGPIPE). The other handlers the kernel
            // cleared (CLONE_CLEAR_SIGHAND).
            let default = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            let default = std::ptr::from_ref(&default) as usize;
            for signal in super::IGNORED_IN_TIDEWATER {
                must(syscall4(
                    libc::SYS_rt_sigaction,
                    signal as usize,
                    default,
                    0,
                    8,
                ));
            }
            must(syscall4(libc::SYS_setpgid, 0, 0, 0, 0));
            for (target, &fd) in setup.fds.iter().enumerate() {
                must(if fd == target as c_int {
                    // Already in place: only the close-on-exec flag must go.
                    syscall4(libc::SYS_fcntl, fd as usize, libc::F_SETFD as usize, 0, 0)
                } else {
                    syscall4(libc::SYS_dup2, fd as usize, target, 0, 0)
                });
            }
            must(syscall4(libc::SYS_chdir, setup.dir as usize, 0, 0, 0));
            let nothing: u64 = 0;
            let nothing = std::ptr::from_ref(&nothing) as usize;
            must(syscall4(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                nothing,
                0,
                8,
            ));
            // Returns only if it failed.
            must(syscall4(
                libc::SYS_execve,
                setup.path as usize,
                setup.argv as usize,
                setup.envp as usize,
                0,
            ));
            loop {
                syscall4(libc::SYS_exit_group, 127, 0, 0, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use tokio::io::AsyncReadExt;

    use super::*;

    type Spawner = fn(&ProcessSpec<'_>) -> io::Result<TaskProcess>;

    /// Both ways of starting a process, which must not differ in anything a task sees.
    const SPAWNERS: [(&str, Spawner); 2] = [("spawn", spawn), ("tokio", spawn_with_tokio)];

    struct Finished {
        status: ExitStatus,
        stdout: String,
        stderr: String,
    }

    async fn run(spawner: Spawner, script: &str, env: &[(&str, &str)]) -> Finished {
        let spec = ProcessSpec {
            program: "/bin/sh",
            args: &["-c", script],
            env: env
                .iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
            dir: Path::new("/"),
        };
        let mut process = spawner(&spec).expect("started");
        let mut stdout = process.stdout.take().expect("stdout");
        let mut stderr = process.stderr.take().expect("stderr");
        let (mut out, mut err) = (String::new(), String::new());
        let (read_out, read_err) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        read_out.expect("stdout read");
        read_err.expect("stderr read");
        Finished {
            status: process.wait().await.expect("waited"),
            stdout: out,
            stderr: err,
        }
    }

    #[tokio::test]
    async fn output_streams_and_exit_code_come_back() {
        for (name, spawner) in SPAWNERS {
            let finished = run(spawner, "echo to out; echo to err >&2; exit 3", &[]).await;
            assert_eq!(finished.status.code(), Some(3), "{name}");
            assert_eq!(finished.stdout, "to out\n", "{name}");
            assert_eq!(finished.stderr, "to err\n", "{name}");
        }
    }

    /// The descriptors of this process that a child inherits: those without close-on-exec
    /// (the test runner's own, if it leaves any open).
    fn inheritable_fds() -> Vec<String> {
        let mut fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            // SAFETY: F_GETFD only reads a descriptor's flags.
            .filter(|&fd| fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } == 0)
            .collect();
        fds.extend([0, 1, 2]);
        fds.sort_unstable();
        fds.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn the_process_sees_what_a_task_is_promised() {
        // The shell reads its own status with a builtin, so no fork of its own blocks
        // signals at that moment.
        let script = "pid=$$; \
            set -- $(cut -d' ' -f5 /proc/$pid/stat); echo group=$([ \"$1\" = \"$pid\" ] && echo own); \
            while read -r key value; do case $key in SigBlk:|SigIgn:) echo $key$value;; esac; \
            done < /proc/$pid/status; \
            echo stdin=$(readlink /proc/$pid/fd/0); \
            echo dir=$(pwd); echo var=$TIDEWATER_X; echo home=$HOME; \
            echo homes=$(tr '\\0' '\\n' < /proc/$pid/environ | grep -c '^HOME='); echo path=$PATH; \
            ls /proc/$pid/fd";
        // As the binary does (`IGNORED_IN_TIDEWATER`): the child must not inherit it.
        // SAFETY: setting a signal's disposition to ignored.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        for (name, spawner) in SPAWNERS {
            let expected_fds = inheritable_fds();
            let finished = run(
                spawner,
                script,
                &[
                    ("TIDEWATER_X", "first"),
                    ("HOME", "/elsewhere"),
                    ("TIDEWATER_X", "last"),
                ],
            )
            .await;
            assert!(finished.status.success(), "{name}: {}", finished.stderr);
            let lines: Vec<&str> = finished.stdout.lines().collect();
            let [
                group,
                blocked,
                ignored,
                stdin,
                dir,
                var,
                home,
                homes,
                path,
                fds @ ..,
            ] = &lines[..]
            else {
                panic!("{name}: {lines:?}");
            };
            // A process group of its own, so that a stop reaches all it started.
            assert_eq!(*group, "group=own", "{name}");
            // No signal blocked, and SIGPIPE (which this process ignores) at its default.
            assert_eq!(*blocked, "SigBlk:0000000000000000", "{name}");
            let ignored = ignored.strip_prefix("SigIgn:").expect("SigIgn");
            let ignored = u64::from_str_radix(ignored, 16).expect("a mask");
            for (signal, signal_name) in [(libc::SIGPIPE, "SIGPIPE"), (libc::SIGXFSZ, "SIGXFSZ")] {
                assert_eq!(
                    ignored & (1 << (signal - 1)),
                    0,
                    "{name}: {signal_name} ignored"
                );
            }
            assert_eq!(*stdin, "stdin=/dev/null", "{name}");
            assert_eq!(*dir, "dir=/", "{name}");
            // The last value given wins, over the inherited one too.
            assert_eq!(*var, "var=last", "{name}");
            assert_eq!(*home, "home=/elsewhere", "{name}");
            assert_eq!(
                *homes, "homes=1",
                "{name}: an overridden variable passed twice"
            );
            // What is not overridden is inherited as it is.
            let inherited = std::env::var("PATH").expect("this process has a PATH");
            assert_eq!(*path, format!("path={inherited}"), "{name}");
            // Nothing of this process leaks in: no pidfd, no pipe of another task.
            let mut fds: Vec<String> = fds.iter().map(ToString::to_string).collect();
            fds.sort_unstable_by_key(|fd| fd.parse::<i32>().unwrap_or(i32::MAX));
            assert_eq!(fds, expected_fds, "{name}");
        }
    }

    #[tokio::test]
    async fn a_program_that_cannot_start_is_an_error_not_a_process() {
        for (name, spawner) in SPAWNERS {
            let missing = ProcessSpec {
                program: "/nonexistent/program",
                args: &[],
                env: Vec::new(),
                dir: Path::new("/"),
            };
            let error = spawner(&missing).err().expect("no such program");
            assert_eq!(error.kind(), io::ErrorKind::NotFound, "{name}: {error}");
            let nowhere = ProcessSpec {
                program: "/bin/sh",
                args: &["-c", "true"],
                env: Vec::new(),
                dir: Path::new("/nonexistent/folder"),
            };
            let error = spawner(&nowhere).err().expect("no such folder");
            assert_eq!(error.kind(), io::ErrorKind::NotFound, "{name}: {error}");
        }
    }

    #[tokio::test]
    async fn a_killed_process_reports_its_signal() {
        for (name, spawner) in SPAWNERS {
            let finished = run(spawner, "kill -TERM $$; sleep 5", &[]).await;
            assert_eq!(finished.status.signal(), Some(libc::SIGTERM), "{name}");
        }
    }
}
