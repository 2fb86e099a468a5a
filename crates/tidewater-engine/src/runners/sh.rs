//! `sh`: a shell command in a process group of its own, its output logged line by line
//! with timestamps.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::signal::Signal;
use tidewater_core::{AttemptOutcome, FailureClass, FailureReason};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot;

use crate::process::{ATTEMPT_MARKER, process_identity, signal_group};
use crate::run_folder::RunFolder;
use crate::subreaper;
use crate::task_process::{self, ProcessSpec, TaskProcess};
use crate::{
    AttemptControl, AttemptLog, AttemptReporter, StartRequest, StartedAttempt, TaskRunner,
    could_not_start,
};

/// The largest `$TIDEWATER_OUTPUT` accepted: outputs are small values passed to templates,
/// not a data channel.
const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Default)]
pub struct ShRunner {
    /// The log folder this runner opened last. The attempts of a run share one, so all but
    /// a run's first attempt skip making and opening it again, and make their files relative
    /// to it. One folder only, so that a long-lived server does not hold one per run. Should
    /// someone delete the folder meanwhile, the next attempt finds it gone before its process
    /// starts (an `fstat`) and makes it again; should that happen between the look and the
    /// start, creating the log file finds it gone and makes it then.
    last_folder: Mutex<Option<Arc<RunFolder>>>,
    /// Logs of finished attempts, complete but not yet written out, with their attempts'
    /// markers, and the attempts not settled yet: see [`ShRunner::settle`].
    settling: Arc<Mutex<Settling>>,
}

/// What [`ShRunner::settle`] works on, behind one lock so that an attempt moves from
/// `unsettled` to `logs` at once.
#[derive(Debug, Default)]
struct Settling {
    logs: Vec<FinishedLog>,
    /// The markers of the attempts started and not yet in `logs`: those still running, and
    /// those whose process has ended but which are still closing their output (it may wait
    /// for a process that escaped their group, see [`end_escaped_holders`]). A process of
    /// theirs that escaped is left to them, so that it is noted in their own log: ended by
    /// another attempt's sweep, it could only be a warning.
    unsettled: Vec<String>,
}

impl Settling {
    /// The unsettled attempts' markers but `own`, which the subreaper spares.
    fn spared(&self, own: Option<&str>) -> Vec<OsString> {
        self.unsettled
            .iter()
            .filter(|marker| Some(marker.as_str()) != own)
            .map(OsString::from)
            .collect()
    }
}

impl ShRunner {
    /// Writes out and closes the logs of the attempts reported since the last call. An
    /// attempt's log gets its last line before the attempt is reported, and is written out
    /// here, after the executor has acted on the report, so that the write and the close are
    /// not between one task's end and the next one's start. (A log still here when the runner
    /// is dropped is written out then.)
    ///
    /// Processes of these attempts that escaped their group kill are ended here too, for the
    /// same reason, and noted in their attempt's log (see the `subreaper` module).
    pub fn settle(&self) {
        let (logs, spared) = {
            let mut settling = self
                .settling
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (std::mem::take(&mut settling.logs), settling.spared(None))
        };
        if logs.is_empty() {
            return;
        }
        let groups: Vec<i32> = logs.iter().map(|finished| finished.group).collect();
        for escaped in subreaper::end_escaped(None, &spared) {
            let finished = logs.iter().find(|finished| {
                finished.marker.is_some()
                    && escaped.marker.as_deref() == finished.marker.as_deref().map(OsStr::new)
            });
            note_escaped(&escaped, finished.map(|finished| &finished.log), &groups);
        }
        for finished in logs {
            finished.log.flush();
        }
    }

    /// The folder at `path`, opened (and made if missing) unless it is the one opened last
    /// and still there. With `reopen`, it is opened again in any case (it was found deleted).
    fn folder(&self, path: &Path, reopen: bool) -> std::io::Result<Arc<RunFolder>> {
        let mut last = self
            .last_folder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(folder) = last.as_ref()
            && folder.path() == path
            && !reopen
            && !folder.is_deleted()
        {
            return Ok(folder.clone());
        }
        let folder = Arc::new(RunFolder::open(path)?);
        *last = Some(folder.clone());
        Ok(folder)
    }
}

/// A finished attempt's log and its attempt's marker (`ATTEMPT_MARKER`'s value).
#[derive(Debug)]
struct FinishedLog {
    log: AttemptLog,
    marker: Option<String>,
    /// The attempt's process group (its process's pid).
    group: i32,
}

/// An `sh` task's action: its command and its `env`, templates all.
#[derive(Debug, Clone, Copy)]
pub struct ShCommand<'a> {
    pub command: &'a str,
    pub env: &'a [(String, String)],
}

impl<'a> TaskRunner<ShCommand<'a>> for ShRunner {
    fn start(
        &self,
        action: &ShCommand<'a>,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        let attempt = request.attempt;
        let command = action.command;
        // The process starts before its log file is created (its output waits in the pipes
        // meanwhile), so that creating the file (an inode) is not between the decision and the
        // start. In a chain of short tasks it is on the critical path all the same: the
        // executor and the task take turns on one core (BENCHMARKS.md).
        let command = match request.template.render(command) {
            Ok(command) => command,
            Err(error) => {
                let message = format!("cannot render the command template: {error}");
                return not_started(&request, FailureClass::Input, &message, reporter);
            }
        };
        let mut task_env = Vec::with_capacity(action.env.len());
        for (name, value) in action.env {
            match request.template.render(value) {
                Ok(value) => task_env.push((name.clone(), value)),
                Err(error) => {
                    let message = format!("cannot render `env.{name}`: {error}");
                    return not_started(&request, FailureClass::Input, &message, reporter);
                }
            }
        }
        // `$TIDEWATER_OUTPUT` lives in the log folder, which must exist before the process
        // can write there.
        let (Some(folder_path), Some(log_name), Some(output_name)) = (
            request.paths.log.parent(),
            request.paths.log.file_name(),
            request.paths.output.file_name(),
        ) else {
            let message =
                "an attempt's log path names no file in a folder; this is a bug in tidewater";
            return not_started(&request, FailureClass::Bug, message, reporter);
        };
        let mut folder = match self.folder(folder_path, false) {
            Ok(folder) => folder,
            Err(error) => {
                let message = format!(
                    "cannot create the log folder {}: {error}",
                    folder_path.display()
                );
                return not_started(&request, FailureClass::Environment, &message, reporter);
            }
        };
        // A file left under the output's name would pass for this attempt's output. Each
        // attempt has a name of its own (the store never starts an attempt number twice), so
        // only a folder made before this runner opened it can hold one: a run's earlier
        // process, or a store deleted and started again while its logs stayed.
        if !folder.made() {
            let _ = folder.remove(output_name);
        }

        let marker = request
            .env
            .iter()
            .find(|(key, _)| key == ATTEMPT_MARKER)
            .map(|(_, value)| value.clone());
        let mut env: Vec<(OsString, OsString)> = request
            .template
            .env_vars()
            .into_iter()
            .chain(task_env)
            .chain(request.env.iter().cloned())
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        env.push((
            "TIDEWATER_OUTPUT".into(),
            request.paths.output.clone().into(),
        ));
        // A group of its own: a timeout or stop reaches every process the command started,
        // and a Ctrl-C at the terminal reaches only Tidewater, which then stops its tasks in
        // order. Started with vfork semantics, without copying this process's memory.
        let spec = ProcessSpec {
            program: "/bin/sh",
            args: &["-c", &command],
            env,
            dir: request.project_root,
        };
        let mut child = match task_process::spawn(&spec) {
            Ok(child) => child,
            Err(error) => {
                let message = format!("cannot start /bin/sh: {error}");
                return not_started(&request, FailureClass::Environment, &message, reporter);
            }
        };
        let created = folder.create(log_name).or_else(|error| {
            if error.kind() != std::io::ErrorKind::NotFound {
                return Err(error);
            }
            // Deleted since it was opened: make it again.
            folder = self.folder(folder_path, true)?;
            folder.create(log_name)
        });
        let log = match created {
            Ok(file) => {
                AttemptLog::from_file(file).redacting(request.template.connections.redactor())
            }
            Err(error) => {
                let message = format!(
                    "cannot create the log file {}: {error}",
                    request.paths.log.display()
                );
                // An attempt without a log is not started: its output would be lost. The
                // process already runs, and must not outlive the attempt unsupervised.
                tokio::spawn(async move {
                    signal_group(child.pid(), Signal::SIGKILL);
                    let _ = child.wait().await;
                    reporter.could_not_start(FailureClass::Environment, message);
                });
                // Reported once the process is reaped; there is nothing left to stop.
                return StartedAttempt::finished();
            }
        };
        // Written before the supervising task below copies any output line, so it stays the
        // log's first line.
        log.note(format!("attempt {attempt}: sh -c {command:?}"));
        let pid = child.pid();
        let identity = process_identity(pid);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (stop_sender, stop) = oneshot::channel();
        let clock = request.clock.clone();
        let deadline = request.deadline();
        let kill_grace = request.kill_grace;
        let output_name = output_name.to_owned();
        let settling = self.settling.clone();
        if let Some(marker) = &marker {
            settling
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .unsettled
                .push(marker.clone());
        }
        // One task per attempt: it waits for the process and copies both of its streams,
        // rather than a task per stream, which cost two more spawns and wake-ups per attempt.
        tokio::spawn(async move {
            let started = Instant::now();
            let (ended_sender, ended_receiver) = oneshot::channel();
            let supervise = async {
                let timed_out = async {
                    match deadline {
                        Some(deadline) => clock.sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                let mut forced: Option<FailureReason> = None;
                let status = tokio::select! {
                    status = child.wait() => status,
                    () = timed_out => {
                        forced = Some(FailureReason::TimedOut);
                        stop_group(&mut child, clock.as_ref(), kill_grace).await
                    }
                    Ok(()) = stop => {
                        forced = Some(FailureReason::Cancelled);
                        stop_group(&mut child, clock.as_ref(), kill_grace).await
                    }
                };
                // Whatever the command left running in its group goes with it: no orphans.
                // This also closes the group's copies of the pipes, so the copies below end.
                signal_group(pid, Signal::SIGKILL);
                let _ = ended_sender.send(());
                (forced, status)
            };
            let copies = async {
                let copying = async {
                    tokio::join!(
                        copy_lines(stdout, "out", &log),
                        copy_lines(stderr, "err", &log),
                    );
                };
                tokio::pin!(copying);
                tokio::select! {
                    () = &mut copying => return,
                    Ok(()) = ended_receiver => {}
                }
                end_escaped_holders(copying, marker.as_deref(), pid, &log, &settling).await;
            };
            let ((forced, status), ()) = tokio::join!(supervise, copies);
            let elapsed = started.elapsed().as_secs_f64();
            let outcome = match (forced, status) {
                (Some(reason), _) => AttemptOutcome::Failed { reason },
                (None, Err(error)) => could_not_start(
                    FailureClass::Environment,
                    format!("cannot wait for the process: {error}"),
                ),
                (None, Ok(status)) => outcome_of(status, &folder, &output_name, log.redactor()),
            };
            let summary = match &outcome {
                AttemptOutcome::Succeeded { .. } => format!("succeeded after {elapsed:.3}s"),
                AttemptOutcome::Failed { reason } => {
                    format!("failed after {elapsed:.3}s: {reason}")
                }
            };
            log.note(&summary);
            // A success whose log lost lines says so. (Only the writes made so far count:
            // the last lines are written after the report, see `settle`.)
            let outcome = outcome.with_log_error(log.write_error());
            {
                let mut settling = settling
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(marker) = &marker
                    && let Some(at) = settling.unsettled.iter().position(|m| m == marker)
                {
                    settling.unsettled.swap_remove(at);
                }
                settling.logs.push(FinishedLog {
                    log,
                    marker,
                    group: pid,
                });
            }
            reporter.report(outcome);
        });
        StartedAttempt {
            process: identity,
            control: AttemptControl::new(stop_sender),
        }
    }
}

/// How long the output of an attempt whose process has ended and whose group was killed may
/// stay open before [`end_escaped_holders`] looks for who holds it, and the longest wait
/// between two looks.
const ESCAPED_AFTER: std::time::Duration = std::time::Duration::from_millis(50);
const ESCAPED_AFTER_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits for `copying` (the copies of the attempt's output) to end. The attempt's process has
/// ended and its group was killed, so its pipes close within moments unless a process that
/// left the group (`setsid cmd &`) holds them: without this, the attempt would last as long
/// as that process. Such processes are ended, and noted in the log, until the pipes close.
/// An attempt whose pipes close at once never gets here past the first `select`.
async fn end_escaped_holders(
    mut copying: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    marker: Option<&str>,
    group: i32,
    log: &AttemptLog,
    settling: &Mutex<Settling>,
) {
    let mut wait = ESCAPED_AFTER;
    loop {
        tokio::select! {
            () = &mut copying => return,
            () = tokio::time::sleep(wait) => {}
        }
        let spared = settling
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .spared(marker);
        for escaped in subreaper::end_escaped(marker.map(OsStr::new), &spared) {
            let is_ours = marker.is_some() && escaped.marker.as_deref() == marker.map(OsStr::new);
            note_escaped(&escaped, is_ours.then_some(log), &[group]);
        }
        wait = (wait * 2).min(ESCAPED_AFTER_AT_MOST);
    }
}

/// Notes a process killed for having escaped its attempt: in the attempt's log, or as a
/// warning if that is not at hand (another attempt ended it, or its marker was gone). A
/// member of one of the task `groups` just killed had not escaped: it was only caught before
/// its end, and is not noted.
fn note_escaped(escaped: &subreaper::Escaped, log: Option<&AttemptLog>, groups: &[i32]) {
    if groups.contains(&escaped.group) {
        return;
    }
    let message = format!(
        "killed process {} ({}): it had left the task's process group and outlived the task",
        escaped.pid, escaped.command
    );
    match log {
        Some(log) => log.note(message),
        None => tracing::warn!(marker = ?escaped.marker, "{message}"),
    }
}

/// SIGTERM to the group, then SIGKILL once the grace period is over.
async fn stop_group(
    child: &mut TaskProcess,
    clock: &dyn crate::Clock,
    grace: std::time::Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let pid = child.pid();
    signal_group(pid, Signal::SIGTERM);
    let deadline = clock.now() + chrono::Duration::from_std(grace).unwrap_or_default();
    tokio::select! {
        status = child.wait() => status,
        () = clock.sleep_until(deadline) => {
            signal_group(pid, Signal::SIGKILL);
            child.wait().await
        }
    }
}

fn outcome_of(
    status: std::process::ExitStatus,
    folder: &RunFolder,
    output: &OsStr,
    redactor: &tidewater_spec::Redactor,
) -> AttemptOutcome {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return AttemptOutcome::Failed {
            reason: FailureReason::Signal { signal },
        };
    }
    match status.code() {
        Some(0) => match read_output(folder, output, redactor) {
            Ok(output) => AttemptOutcome::Succeeded {
                output,
                log_error: None,
            },
            Err(message) => AttemptOutcome::Failed {
                reason: FailureReason::BadOutput { message },
            },
        },
        Some(code) => AttemptOutcome::Failed {
            reason: FailureReason::Exit { code },
        },
        None => AttemptOutcome::Failed {
            reason: FailureReason::Exit { code: -1 },
        },
    }
}

/// Reads `$TIDEWATER_OUTPUT` (the file `name` in the attempt's log folder): absent or empty
/// means no output; otherwise a JSON object. A secret in it is replaced by `***` in the file
/// too, which stays in the log folder.
fn read_output(
    folder: &RunFolder,
    name: &OsStr,
    redactor: &tidewater_spec::Redactor,
) -> Result<Option<serde_json::Value>, String> {
    let path = || folder.path().join(name);
    let file = match folder.open_file(name) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("cannot read {}: {error}", path().display())),
    };
    // One byte past the limit tells a file over it, without asking for its size first.
    let mut bytes = Vec::new();
    file.take(MAX_OUTPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read {}: {error}", path().display()))?;
    if bytes.len() as u64 > MAX_OUTPUT_BYTES {
        let size = std::fs::metadata(path()).map_or(bytes.len() as u64, |metadata| metadata.len());
        return Err(format!(
            "{} is {size} bytes; the limit is {MAX_OUTPUT_BYTES}",
            path().display(),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("cannot read {}: it is not UTF-8 text", path().display()))?;
    if let std::borrow::Cow::Owned(redacted) = redactor.redact(&text) {
        use std::io::Write;
        folder
            .create(name)
            .and_then(|mut file| file.write_all(redacted.as_bytes()))
            .map_err(|error| format!("cannot hide the secrets in {}: {error}", path().display()))?;
    }
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(Some(value)),
        Ok(_) => Err("$TIDEWATER_OUTPUT must hold a JSON object".to_owned()),
        Err(error) => Err(format!("$TIDEWATER_OUTPUT is not valid JSON: {error}")),
    }
}

/// Ends an attempt whose process never started: the reason goes to its log, if the log can be
/// created (the report carries it either way), and to the executor.
fn not_started(
    request: &StartRequest<'_>,
    class: FailureClass,
    message: &str,
    reporter: AttemptReporter,
) -> StartedAttempt {
    if let Ok(log) = AttemptLog::create(&request.paths.log) {
        let log = log.redacting(request.template.connections.redactor());
        log.note(message);
        log.flush();
    }
    reporter.could_not_start(class, message);
    StartedAttempt::finished()
}

/// The first read's size. Most tasks write little or nothing: a small buffer costs them no
/// large allocation (a `BufReader` takes 8 KiB, zeroed, per stream and attempt).
const FIRST_READ: usize = 256;
/// Reads that fill the buffer double the next one's size, up to this.
const LARGEST_READ: usize = 64 * 1024;

/// Copies a stream to the log line by line until it ends (or at once if there is none),
/// writing out what each read completed. A line is written once its newline has come; a last
/// line without one is logged at the end.
///
/// With secrets to hide, each read goes through a [`tidewater_spec::StreamRedactor`] before
/// it is cut in lines: a secret the task wrote in two pieces, or across a line break (a
/// key read from a file), is still replaced whole. (The log redacts each line again, which
/// costs little and covers every other writer.)
async fn copy_lines(stream: Option<impl AsyncRead + Unpin>, name: &'static str, log: &AttemptLog) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut redactor = (!log.redactor().is_empty()).then(|| log.redactor().stream());
    let mut buffer: Vec<u8> = Vec::with_capacity(FIRST_READ);
    let mut want = FIRST_READ;
    loop {
        // What the buffer holds is the start of a line (no newline in it): only the bytes
        // read now need searching.
        let kept = buffer.len();
        buffer.reserve(want);
        let read = match stream.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if read >= want {
            want = (want * 2).min(LARGEST_READ);
        }
        if let Some(redactor) = &mut redactor {
            let passed = redactor.push(&buffer[kept..]);
            buffer.truncate(kept);
            buffer.extend_from_slice(&passed);
        }
        let mut start = 0;
        let mut from = kept;
        while let Some(found) = buffer[from..].iter().position(|&byte| byte == b'\n') {
            let end = from + found;
            log.line(name, &buffer[start..end]);
            start = end + 1;
            from = start;
        }
        if start > 0 {
            // The lines of one read go out together, in one write, as they arrive: `logs`
            // shows them while the task runs, and a crash of Tidewater loses none. A line per
            // write would cost a system call per line when a task prints many at once. (The
            // log's first line goes out with the first output: a task that prints nothing
            // costs no write of its own, its log is written whole at `settle`. Writing that
            // line out after a delay instead was measured: arming the timer costs a write
            // to the runtime's eventfd per attempt.)
            log.flush();
        }
        buffer.drain(..start);
    }
    if let Some(redactor) = &mut redactor {
        // What was held back may end a line, or be one.
        buffer.extend_from_slice(&redactor.finish());
        let mut rest = &buffer[..];
        while let Some(found) = rest.iter().position(|&byte| byte == b'\n') {
            log.line(name, &rest[..found]);
            rest = &rest[found + 1..];
        }
        if !rest.is_empty() {
            log.line(name, rest);
        }
        return;
    }
    if !buffer.is_empty() {
        log.line(name, &buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content: Option<&[u8]>) -> Result<Option<serde_json::Value>, String> {
        let root = tempfile::tempdir().expect("temporary folder");
        let folder = RunFolder::open(root.path()).expect("opened");
        if let Some(content) = content {
            std::fs::write(root.path().join("t.1.output.json"), content).expect("written");
        }
        read_output(
            &folder,
            OsStr::new("t.1.output.json"),
            &tidewater_spec::Redactor::default(),
        )
    }

    async fn logged(input: &[u8]) -> Vec<String> {
        let root = tempfile::tempdir().expect("temporary folder");
        let path = root.path().join("a.log");
        let log = AttemptLog::create(&path).expect("log created");
        copy_lines(Some(input), "out", &log).await;
        log.flush();
        std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|line| line.split_once("| ").expect("a stamped line").1.to_owned())
            .collect()
    }

    #[tokio::test]
    async fn output_is_logged_line_by_line_whatever_the_reads() {
        assert_eq!(logged(b"").await, Vec::<String>::new());
        assert_eq!(
            logged(b"one\ntwo\n\nlast").await,
            ["one", "two", "", "last"]
        );
        // Lines longer than the first reads, and more output than the largest read.
        let long = "x".repeat(3 * LARGEST_READ);
        let many: Vec<String> = (0..20_000).map(|index| format!("line {index}")).collect();
        let input = format!("{long}\n{}\n", many.join("\n"));
        let lines = logged(input.as_bytes()).await;
        assert_eq!(lines.len(), 1 + many.len());
        assert_eq!(lines[0], long);
        assert_eq!(lines[1..], many[..]);
    }

    #[test]
    fn no_file_or_only_whitespace_is_no_output() {
        assert_eq!(read(None), Ok(None));
        assert_eq!(read(Some(b"")), Ok(None));
        assert_eq!(read(Some(b" \n\t\n")), Ok(None));
    }

    #[test]
    fn a_json_object_is_the_output() {
        assert_eq!(
            read(Some(b"{\"rows\": 7}\n")),
            Ok(Some(serde_json::json!({ "rows": 7 })))
        );
    }

    #[test]
    fn anything_else_is_a_bad_output_that_says_why() {
        assert_eq!(
            read(Some(b"[1, 2]")),
            Err("$TIDEWATER_OUTPUT must hold a JSON object".to_owned())
        );
        let broken = read(Some(b"{\"rows\": ")).expect_err("not JSON");
        assert!(
            broken.starts_with("$TIDEWATER_OUTPUT is not valid JSON"),
            "{broken}"
        );
        let binary = read(Some(b"{\"a\": \"\xff\"}")).expect_err("not text");
        assert!(
            binary.ends_with("t.1.output.json: it is not UTF-8 text"),
            "{binary}"
        );
        let mut large = b"{\"a\": \"".to_vec();
        large.resize(MAX_OUTPUT_BYTES as usize + 10, b'x');
        let size = large.len();
        let too_large = read(Some(&large)).expect_err("over the limit");
        assert!(
            too_large.ends_with(&format!(
                "t.1.output.json is {size} bytes; the limit is {MAX_OUTPUT_BYTES}"
            )),
            "{too_large}"
        );
    }
}
