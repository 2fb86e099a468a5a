//! Keeps one known, caught panic of a dependency off the user's terminal.
//!
//! When a data file's final upload fails (a full disk, a folder where the file should go, a
//! rejected cloud put), parquet has already started `object_store`'s `BufWriter::shutdown`;
//! deltalake (1.1, `datafile::writer::upload_parquet_file`) then calls `BufWriter::abort`,
//! which panics "by design" once shutdown has begun, and catches that panic with
//! `catch_unwind` to turn it into a warning. The write fails with the upload's own error,
//! which Tidewater reports. The default panic hook would still print
//! `thread 'main' panicked at …/buffered.rs:369:41: Already shut down` on stderr, although
//! nothing panicked as far as Tidewater is concerned. Tidewater cannot avoid the call (it is
//! inside deltalake's writer), so this hook demotes exactly that panic to a debug log line.
//!
//! The match is by file, line and message, so an upgrade that moves the line shows the panic
//! again rather than hiding a different one (`a_failed_write_prints_no_panic_and_no_colour_codes`
//! then fails and points here). Every other panic goes to the default hook.

use std::panic::PanicHookInfo;

/// The `panic!("Already shut down")` in `BufWriter::abort`, object_store 0.13.
const CAUGHT_ABORT_LINE: u32 = 369;

pub(crate) fn install_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if is_caught_upload_abort(info) {
            tracing::debug!(
                location = %info.location().map(ToString::to_string).unwrap_or_default(),
                "deltalake aborted a failed upload that was already shut down (a panic it catches)"
            );
            return;
        }
        default_hook(info);
    }));
}

fn is_caught_upload_abort(info: &PanicHookInfo<'_>) -> bool {
    let Some(location) = info.location() else {
        return false;
    };
    let message = info.payload().downcast_ref::<&str>().copied();
    location.file().contains("object_store")
        && location.file().ends_with("buffered.rs")
        && location.line() == CAUGHT_ABORT_LINE
        && message == Some("Already shut down")
}
