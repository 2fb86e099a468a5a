//! Counts on the command line have bounds, checked before anything is recorded.

use crate::project::{TestProject, text};

/// Regression: `run --parallelism 0` was accepted (the same value is an error in
/// tidewater.toml), `runs --limit 0` said "no runs yet", and `next -n 100000000` ran for 25 s
/// and took 718 MB. Each is now refused at once, naming the allowed range.
#[test]
fn counts_out_of_their_range_are_refused_with_the_range() {
    let project = TestProject::example();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "run",
                "daily_orders",
                "--date",
                "2026-01-01",
                "--parallelism",
                "0",
            ],
            "0 is not in 1..",
        ),
        (&["runs", "--limit", "0"], "0 is not in 1.."),
        (
            &["next", "daily_orders", "-n", "100000000"],
            "100000000 is not in 1..=10000",
        ),
        (&["queue", "--parallelism", "0"], "0 is not in 1.."),
        (
            &[
                "backfill",
                "daily_orders",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02",
                "--max-active-runs",
                "0",
            ],
            "0 is not in 1..",
        ),
    ];
    for (args, expected) in cases {
        let started = std::time::Instant::now();
        let output = project.run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{stderr}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{args:?} is refused before any work"
        );
    }
    let runs = project.run(&["runs", "--json"]);
    assert_eq!(text(&runs.stdout).trim(), "[]", "no run was recorded");
    // The largest count is accepted and printed in full.
    let most = project.run(&["next", "daily_orders", "-n", "10000", "--json"]);
    assert!(most.status.success(), "{}", text(&most.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&most.stdout).expect("json");
    assert_eq!(rows.len(), 10_000);
}

/// `--help` says the bounds, so that nobody has to find them by trial.
#[test]
fn help_names_the_bounds_of_counts() {
    let project = TestProject::example();
    let next = text(&project.run(&["next", "--help"]).stdout);
    assert!(next.contains("from 1 to 10000"), "{next}");
    let run = text(&project.run(&["run", "--help"]).stdout);
    assert!(run.contains("at least 1"), "{run}");
    let runs = text(&project.run(&["runs", "--help"]).stdout);
    assert!(runs.contains("at least 1"), "{runs}");
}
