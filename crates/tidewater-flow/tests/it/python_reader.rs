//! An independent reader: the Python `deltalake` package opens tables written here and checks
//! schema, partitions and row counts (DESIGN.md §5: tables must be readable by any client).

use std::path::Path;
use std::process::Command;

use serde_json::json;
use tidewater_flow::WriteMode;

use crate::support::{Project, commit, spec};

/// `true` when the reader can run. Without the package the test is skipped, loudly, on a
/// developer machine; in CI (`CI` set) a missing package fails the test instead, so the check
/// cannot silently stop running.
pub(crate) fn python_deltalake_available() -> bool {
    let imported = Command::new("python3")
        .args(["-c", "import deltalake"])
        .output()
        .is_ok_and(|output| output.status.success());
    if imported {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but `python3 -c 'import deltalake'` fails: run `pip install deltalake pyarrow`"
        );
    }
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!! SKIPPED: tables_are_readable_by_the_python_deltalake_package");
    eprintln!("!! `python3 -c 'import deltalake'` failed; run `pip install deltalake pyarrow`");
    eprintln!("!! to check tables with an independent Delta reader. (In CI this fails.)");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    false
}

#[tokio::test]
async fn tables_are_readable_by_the_python_deltalake_package() {
    if !python_deltalake_available() {
        return;
    }
    let project = Project::new();
    let day = |dt| spec("mart.sales", WriteMode::ReplacePartition, &[("dt", dt)]);
    let sales = "SELECT * FROM (VALUES (1, 'apple', 2.5), (2, 'pear', 1.0)) AS t(id, item, price)";
    project
        .write(sales, &day("2026-01-01"), &commit(1, "daily_mart", 1))
        .await;
    project
        .write(sales, &day("2026-01-02"), &commit(2, "daily_mart", 1))
        .await;
    project
        .write(
            "SELECT 3 AS id, 'plum' AS item, 4.0 AS price",
            &day("2026-01-01"),
            &commit(3, "daily_mart", 1),
        )
        .await;
    let mut merge = spec("mart.customers", WriteMode::Merge, &[]);
    merge.keys = vec!["id".to_owned()];
    let customers = "SELECT id, name, TIMESTAMP '2026-01-01 09:00:00' AS seen_at FROM (VALUES (1, 'ann'), (2, 'bob')) AS t(id, name)";
    project
        .write(customers, &merge, &commit(1, "customers", 1))
        .await;
    project
        .write(customers, &merge, &commit(2, "customers", 1))
        .await;

    let warehouse = project.root().join("warehouse");
    let expectations = json!({
        "tables": [
            {
                "path": warehouse.join("mart/sales"),
                "columns": {"id": "long", "item": "string", "price": "double", "dt": "string"},
                "partition_columns": ["dt"],
                "partitions": [
                    {"values": {"dt": "2026-01-01"}, "rows": 1},
                    {"values": {"dt": "2026-01-02"}, "rows": 2},
                ],
                "rows": 3,
            },
            {
                "path": warehouse.join("mart/customers"),
                "columns": {"id": "long", "name": "string", "seen_at": "timestamp"},
                "partition_columns": [],
                "partitions": [{"values": {}, "rows": 2}],
                "rows": 2,
            },
        ]
    });
    assert_python_reader_agrees(&project, &expectations);
}

/// Runs `read_with_deltalake.py` on `expectations` (its JSON format) and fails the test with
/// every difference it prints. Call [`python_deltalake_available`] first.
pub(crate) fn assert_python_reader_agrees(project: &Project, expectations: &serde_json::Value) {
    let expectations_file = project.root().join("expectations.json");
    std::fs::write(&expectations_file, expectations.to_string()).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_with_deltalake.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&expectations_file)
        .output()
        .expect("python3 runs");

    assert!(
        output.status.success(),
        "the Python deltalake reader disagrees:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
