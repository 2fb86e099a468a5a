//! One run's times, written the same way by every command.

use crate::project::{TestProject, text};
use crate::service::{eventually, start_server, stop_server};

/// Midnight in Tokyo is the previous day in UTC: a time written in UTC shows the wrong date.
const TOKYO: &str =
    "schedule: \"0 0 * * *\"\ntimezone: Asia/Tokyo\ntasks:\n  a:\n    sh: \"true\"\n";

/// Regression: one run's times were written four ways: `run` in the workflow's zone with its
/// abbreviation, `status RUN` as UTC offsets, the server log in UTC (so a run for one date
/// seemed to be for the day before), and `status` in the machine's zone without a name. Every
/// command now writes them in the workflow's zone, named.
#[test]
fn every_command_writes_a_runs_times_in_the_workflows_zone_named() {
    let project = TestProject::new("", &[("tokyo.yaml", TOKYO)]);
    let run = project.run(&["run", "tokyo", "--date", "2026-01-01"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stderr).contains(
            "run 1 of tokyo for 2026-01-01 (2026-01-01 00:00 JST to 2026-01-02 00:00 JST)"
        ),
        "{}",
        text(&run.stderr)
    );

    let status = project.run(&["status", "1"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout)
            .contains("interval 2026-01-01 00:00 JST to 2026-01-02 00:00 JST (manual)"),
        "{}",
        text(&status.stdout)
    );

    // The server creates the latest ended interval's run at once; its log names the date and
    // the times in Tokyo.
    let server = start_server(&project);
    let created = eventually("the server to log the scheduled run", || {
        std::fs::read_to_string(project.path("server.log"))
            .ok()?
            .lines()
            .find(|line| line.contains("tokyo run 2 created for"))
            .map(str::to_owned)
    });
    let health = project.run(&["status"]);
    stop_server(server);
    assert!(
        created.contains(" JST to ") && created.ends_with(" JST, scheduled)"),
        "{created}"
    );
    assert!(!created.contains("+00:00"), "{created}");
    assert!(
        created.contains(" UTC "),
        "the log line's own time is named: {created}"
    );

    let health = text(&health.stdout);
    assert!(
        health.contains(" UTC)"),
        "when the server started, named: {health}"
    );
    let row = health
        .lines()
        .find(|line| line.starts_with("tokyo"))
        .unwrap_or_else(|| panic!("a row for tokyo: {health}"));
    assert!(
        row.contains(" 00:00 JST"),
        "the next due time in Tokyo: {health}"
    );
}
