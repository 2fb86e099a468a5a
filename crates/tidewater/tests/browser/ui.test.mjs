// Tidewater's web UI in a real browser (Debian's chromium, driven by playwright-core).
//
// Run by crates/tidewater/tests/it/ui.rs, which starts a real server on a project it made and
// passes, in the environment:
//   TIDEWATER_URL          the server, e.g. http://127.0.0.1:43121
//   TIDEWATER_PROJECT      the project folder (the test releases a waiting task by creating a file)
//   TIDEWATER_SCREENSHOTS  the folder the screenshots of each page go to
//   TIDEWATER_CHROMIUM     the browser (default /usr/bin/chromium)
//   TIDEWATER_TOKEN        an API token of scope operate: the browser logs in with it first
//
// Every scenario fails on any console error or uncaught exception of a page, and checks that
// what changes on the server shows without reloading the page (a marker set on `window` must
// survive: a reload would drop it).

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.TIDEWATER_URL;
const project = process.env.TIDEWATER_PROJECT;
const screenshots = process.env.TIDEWATER_SCREENSHOTS;
const executablePath = process.env.TIDEWATER_CHROMIUM || "/usr/bin/chromium";
const token = process.env.TIDEWATER_TOKEN;
assert.ok(
  base && project && screenshots && token,
  "TIDEWATER_URL, TIDEWATER_PROJECT, TIDEWATER_SCREENSHOTS and TIDEWATER_TOKEN are set",
);

/// The API, as a script calls it: with the token.
async function api(path) {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, `GET ${path}`);
  return response.json();
}

/// A state-changing API call, as a script makes it: with the token.
async function apiPost(path, body) {
  const response = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 201, `POST ${path}`);
  return response.json();
}

/// Any API call as a script makes it, with the token; fails unless the answer is `expected`.
async function apiSend(method, path, body, expected) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(response.status, expected, `${method} ${path}`);
  return response.json();
}

/// Polls the API (bounded by LIVE) until run `id` has ended; its status.
async function ended(id) {
  const deadline = Date.now() + LIVE;
  for (;;) {
    const status = await api(`/api/v1/runs/${id}`);
    if (["succeeded", "failed", "cancelled"].includes(status.run.state)) {
      return status;
    }
    assert.ok(Date.now() < deadline, `run ${id} ended in time: ${JSON.stringify(status.run)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/// A refused form shows the refusal as a page: the browser logs its status as a console
/// error, which is the expected outcome of the test that says so, not a problem of the page.
/// Left out when the test ends (the message may arrive after the page loaded).
let refusals = [];
function expectRefusal(status) {
  refusals.push(`status of ${status}`);
}

// State changes must show well within this (they show within a second; CI machines are slow).
const LIVE = 20_000;

let context;
let page;
let userData;
let problems = [];
const confirmations = [];

before(async () => {
  userData = fs.mkdtempSync(path.join(os.tmpdir(), "tidewater-chromium-"));
  // A fresh profile each time; playwright takes it as the persistent context's folder.
  context = await chromium.launchPersistentContext(userData, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(`console error on ${page.url()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => {
    problems.push(`uncaught exception on ${page.url()}: ${error.message}`);
  });
  // Every confirmation is accepted, and recorded so a test can check it was asked.
  page.on("dialog", (dialog) => {
    confirmations.push(dialog.message());
    dialog.accept();
  });
});

afterEach(() => {
  const expected = refusals;
  const seen = problems.filter((problem) => !expected.some((refusal) => problem.includes(refusal)));
  problems = [];
  refusals = [];
  assert.deepEqual(seen, [], "no console error or uncaught exception");
});

after(async () => {
  await context?.close();
  fs.rmSync(userData, { recursive: true, force: true });
});

async function shoot(name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
}

/// Marks the page; `assertNotReloaded` fails if it was loaded again since.
async function mark() {
  await page.evaluate(() => {
    window.tidewaterMark = "still here";
  });
}

async function assertNotReloaded() {
  assert.equal(await page.evaluate(() => window.tidewaterMark), "still here", "the page was not reloaded");
}

function card(name) {
  return page.locator("li.card", { has: page.locator(`h2 a[href="/workflows/${name}"]`) });
}

async function trigger(workflow, date) {
  await page.goto(`${base}/`);
  const form = card(workflow).locator("form.trigger");
  await form.locator('input[name="date"]').fill(date);
  await Promise.all([page.waitForURL(`${base}/workflows/${workflow}`), form.locator('button[type="submit"]').click()]);
}

test("a page asks for a token, and logging in returns to it", async () => {
  await page.goto(`${base}/queue`);
  await page.waitForURL(/\/login\?next=\/queue$/);
  assert.equal(await page.locator('input[name="next"]').inputValue(), "/queue");
  await shoot("login");
  await page.locator('input[name="token"]').fill("tw_" + "0".repeat(64));
  await page.locator("button", { hasText: "Log in" }).click();
  await page.locator('[role="alert"]', { hasText: "unknown or revoked" }).waitFor();
  await page.locator('input[name="token"]').fill(token);
  await page.locator("button", { hasText: "Log in" }).click();
  await page.waitForURL(`${base}/queue`);
  await page.locator("h1", { hasText: "Queue" }).waitFor();
  // The token is in no page.
  assert.ok(!(await page.content()).includes(token));
});

test("a run triggered from the UI turns its grid cells green without a reload", async () => {
  await page.goto(`${base}/`);
  await shoot("workflows");
  await trigger("quick", "2026-01-05");
  await mark();
  // The first task waits for go.quick: the grid shows it running, then every task succeeded.
  const firstRow = page.locator("table.grid tbody tr").first();
  await firstRow.locator('a.cell[data-state="running"]').first().waitFor({ timeout: LIVE });
  await shoot("grid-running");
  fs.writeFileSync(path.join(project, "go.quick"), "");
  await page.waitForFunction(
    () => {
      const row = document.querySelector("table.grid tbody tr");
      const cells = row ? [...row.querySelectorAll("a.cell")] : [];
      return cells.length === 4 && cells.every((cell) => cell.dataset.state === "succeeded");
    },
    null,
    { timeout: LIVE },
  );
  await assertNotReloaded();
  await shoot("grid");
  // A cell opens its task instance: the attempt and its log.
  await firstRow.locator("a.cell").first().click();
  await page.waitForURL(/\/runs\/\d+\/tasks\/extract$/);
  await page.locator('#task-attempts .badge[data-state="succeeded"]').waitFor();
  assert.match(await page.locator("#log").textContent(), /extracted/);
  await shoot("task");
});

test("a task of an ended run is cleared, with what depends on it, from the run's page", async () => {
  await page.goto(`${base}/workflows/quick`);
  await page.locator("table.grid tbody tr").first().locator("th a").click();
  await page.waitForURL(/\/runs\/\d+$/);
  const transform = page.locator("#run-tasks tbody tr", { has: page.locator("a", { hasText: /^transform$/ }) });
  const asked = confirmations.length;
  await Promise.all([page.waitForEvent("load"), transform.locator("button", { hasText: "Clear" }).click()]);
  assert.match(confirmations[asked] ?? "", /^Clear transform of run \d+\?/);
  // transform and load (downstream of it) ran again; extract and report did not.
  await page.waitForFunction(
    () => {
      const rows = [...document.querySelectorAll("#run-tasks tbody tr")];
      const attempts = Object.fromEntries(rows.map((row) => [row.cells[0].textContent.trim(), row.cells[2].textContent.trim()]));
      return (
        document.getElementById("run-state").dataset.state === "succeeded" &&
        attempts.extract === "1" &&
        attempts.report === "1" &&
        attempts.transform === "2" &&
        attempts.load === "2"
      );
    },
    null,
    { timeout: LIVE },
  );
  await shoot("run-cleared");
});

test("a running attempt's log shows new lines as they are written", async () => {
  await trigger("chatty", "2026-01-06");
  const cell = page.locator("table.grid tbody tr").first().locator('a.cell[data-state="running"]');
  await cell.waitFor({ timeout: LIVE });
  await cell.click();
  await page.waitForURL(/\/runs\/\d+\/tasks\/talk$/);
  await mark();
  const log = page.locator("#log");
  // Each line of the task's output is logged as `<time>       out| line N`.
  const lines = async () => (await log.textContent()).split("\n").filter((line) => /out\| line \d+$/.test(line)).length;
  await page.waitForFunction(() => /out\| line \d+/.test(document.getElementById("log").textContent), null, { timeout: LIVE });
  const first = await lines();
  await page.waitForFunction(
    (seen) =>
      document
        .getElementById("log")
        .textContent.split("\n")
        .filter((line) => /out\| line \d+$/.test(line)).length >= seen + 3,
    first,
    { timeout: LIVE },
  );
  await assertNotReloaded();
  assert.equal(await page.locator("#log-status").textContent(), "following live…");
  await shoot("log-live");
});

test("a running run is cancelled from its page", async () => {
  // The chatty run of the previous test still talks.
  await page.locator(".crumbs a", { hasText: /^run \d+$/ }).click();
  await page.waitForURL(/\/runs\/\d+$/);
  await page.locator('#run-state[data-state="running"]').waitFor({ timeout: LIVE });
  await page.locator("svg.dag a.node").first().waitFor();
  await shoot("run-graph");
  await page.locator("nav.tabs a", { hasText: "Gantt" }).click();
  await page.waitForURL(/\/gantt$/);
  await page.locator("svg.gantt a.bar").first().waitFor();
  await shoot("run-gantt");
  await page.locator("nav.tabs a", { hasText: "Graph" }).click();
  const asked = confirmations.length;
  await page.locator("button", { hasText: "Cancel run" }).click();
  await page.locator('#run-state[data-state="cancelled"]').waitFor({ timeout: LIVE });
  assert.match(confirmations[asked] ?? "", /^Cancel run \d+\?/);
  await shoot("run-cancelled");
});

test("a workflow is paused from the workflows page", async () => {
  await page.goto(`${base}/`);
  await card("quick").locator("button", { hasText: "Pause" }).click();
  await page.waitForURL(`${base}/`);
  await card("quick").locator(".badge.s-paused").waitFor();
  const workflows = await api("/api/v1/workflows");
  assert.equal(workflows.find((workflow) => workflow.workflow === "quick").paused, true);
  await shoot("workflows-paused");
});

test("a backfill is previewed, then started, and its progress shows", async () => {
  await page.goto(`${base}/backfills/new?workflow=history`);
  await page.locator('input[name="from"]').fill("2026-01-01");
  await page.locator('input[name="to"]').fill("2026-01-03");
  await shoot("backfill-form");
  await page.locator("button", { hasText: "Preview" }).click();
  await page.waitForURL(`${base}/backfills/preview`);
  const rows = page.locator("#preview tbody tr");
  assert.equal(await rows.count(), 3);
  assert.match(await rows.first().textContent(), /2026-01-01\s*new run/);
  // The preview recorded nothing.
  const before = await api("/api/v1/runs?workflow=history");
  assert.deepEqual(before.runs, []);
  await shoot("backfill-preview");
  await page.locator("button", { hasText: "Start backfill" }).click();
  await page.waitForURL(/\/backfills\/\d+$/);
  await mark();
  await page.locator('#backfill-state[data-finished="true"]').waitFor({ timeout: LIVE });
  await assertNotReloaded();
  assert.equal(await page.locator("#backfill-progress a.chip.s-succeeded").count(), 3);
  await shoot("backfill-progress");
});

test("a partition leads to the run that wrote it, and missing intervals show", async () => {
  await page.goto(`${base}/tables`);
  await shoot("tables");
  await page.locator("a", { hasText: "raw.orders" }).click();
  await page.waitForURL(`${base}/tables/raw.orders`);
  await page.locator('input[name="workflow"]').fill("daily_orders");
  await page.locator('input[name="from"]').fill("2026-01-01");
  await page.locator('input[name="to"]').fill("2026-01-03");
  await page.locator("button", { hasText: "Check" }).click();
  await page.locator(".partition.missing").first().waitFor();
  assert.deepEqual(
    await page.locator(".partition.missing .partition-value").allTextContents(),
    ["✗ 2026-01-02", "✗ 2026-01-03"],
  );
  await shoot("table");
  // A run that writes 2026-01-02 shows on the open page without a reload: its partition
  // appears and the interval is no longer missing.
  await mark();
  await apiPost("/api/v1/workflows/daily_orders/runs", { date: "2026-01-02" });
  await page
    .locator("#table-partitions .partition-value", { hasText: "2026-01-02" })
    .waitFor({ timeout: LIVE });
  await page
    .locator("#table-missing .partition.missing .partition-value", { hasText: "2026-01-02" })
    .waitFor({ state: "detached", timeout: LIVE });
  assert.deepEqual(
    await page.locator(".partition.missing .partition-value").allTextContents(),
    ["✗ 2026-01-03"],
  );
  await assertNotReloaded();
  const writer = page.locator(".partition a.writer").first();
  assert.match(await writer.textContent(), /^run 1 · load_raw · attempt 1$/);
  await writer.click();
  await page.waitForURL(`${base}/runs/1`);
  assert.equal(await page.locator("h1").textContent(), "Run 1");
  await page.locator('#run-state[data-state="succeeded"]').waitFor();
  await shoot("partition-writer-run");
});

test("the runs, the queue and the streams have their pages", async () => {
  await page.goto(`${base}/runs`);
  await page.locator("table.list tbody tr").first().waitFor();
  await shoot("runs");
  await page.goto(`${base}/queue`);
  await page.locator("h1", { hasText: "Queue" }).waitFor();
  await shoot("queue");
  // Reached from the navigation; the example project has no stream file.
  await page.locator("header nav a", { hasText: "Streams" }).click();
  await page.locator("h1", { hasText: "Streams" }).waitFor();
  await page.locator("p.empty", { hasText: "No stream files" }).waitFor();
  await shoot("streams");
});

test("a failed attempt's task page shows its failure class and reason", async () => {
  const run = await apiPost("/api/v1/workflows/pinned/runs", { date: "2026-02-01" });
  assert.equal((await ended(run.id)).run.state, "failed");
  await page.goto(`${base}/runs/${run.id}/tasks/broken`);
  const attempt = page.locator("#task-attempts tbody tr").first();
  await attempt.locator('.badge[data-state="failed"]').waitFor();
  assert.equal(await attempt.locator(".tag").textContent(), "task");
  assert.equal((await attempt.locator("td.note").textContent()).trim(), "exited with status 4");
  await shoot("task-failed");
});

test("a failed run retried from its page ends succeeded once fixed, and its Gantt shows both attempts", async () => {
  const run = await apiPost("/api/v1/workflows/flaky/runs", { date: "2026-02-01" });
  assert.equal((await ended(run.id)).run.state, "failed");
  await page.goto(`${base}/runs/${run.id}`);
  await page.locator('#run-state[data-state="failed"]').waitFor();
  // The fix is outside the workflow file: the run's own (pinned) version passes now.
  fs.writeFileSync(path.join(project, "fixed.flaky"), "");
  const asked = confirmations.length;
  await Promise.all([page.waitForEvent("load"), page.locator("button", { hasText: /^Retry$/ }).click()]);
  assert.match(confirmations[asked] ?? "", new RegExp(`^Retry run ${run.id}\\?`));
  await mark();
  await page.locator('#run-state[data-state="succeeded"]').waitFor({ timeout: LIVE });
  await assertNotReloaded();
  const status = await api(`/api/v1/runs/${run.id}`);
  const check = status.tasks.find((task) => task.task === "check");
  assert.deepEqual(
    check.attempts.map((attempt) => attempt.outcome),
    ["failed", "succeeded"],
  );
  await page.locator("nav.tabs a", { hasText: "Gantt" }).click();
  await page.waitForURL(new RegExp(`/runs/${run.id}/gantt$`));
  const titles = await page.locator("svg.gantt a.bar title").allTextContents();
  assert.deepEqual(
    titles.filter((title) => title.startsWith("check ")).map((title) => title.split(" · ").slice(0, 2).join(" · ")),
    ["check attempt 1 · failed", "check attempt 2 · succeeded"],
  );
  assert.equal(titles.filter((title) => title.startsWith("fetch ")).length, 1, "fetch succeeded once and kept");
  await shoot("run-retried-gantt");
});

test("retry keeps a run's version; retry on the latest version re-pins it to the fixed file", async () => {
  const run = await apiPost("/api/v1/workflows/pinned/runs", { date: "2026-02-02" });
  assert.equal((await ended(run.id)).run.state, "failed");
  const pinnedHash = run.workflow_hash;
  // The file is fixed: the run's own version still fails.
  const file = path.join(project, "workflows", "pinned.yaml");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("exit 4", "echo fixed"));
  await page.goto(`${base}/runs/${run.id}`);
  await Promise.all([page.waitForEvent("load"), page.locator("button", { hasText: /^Retry$/ }).click()]);
  const retried = await ended(run.id);
  const broken = retried.tasks.find((task) => task.task === "broken");
  assert.deepEqual(broken.attempts.map((attempt) => attempt.reason), ["exited with status 4", "exited with status 4"]);
  assert.equal(retried.run.workflow_hash, pinnedHash, "a plain retry keeps the pinned version");
  // On the latest version: the run is pinned to the fixed file and succeeds on it.
  await page.goto(`${base}/runs/${run.id}`);
  const asked = confirmations.length;
  await Promise.all([
    page.waitForEvent("load"),
    page.locator("button", { hasText: "Retry on latest version" }).click(),
  ]);
  assert.match(confirmations[asked] ?? "", /on the workflow file as it is now/);
  await page.locator('#run-state[data-state="succeeded"]').waitFor({ timeout: LIVE });
  await shoot("retry-latest-repinned");
  const after = await ended(run.id);
  assert.equal(after.run.state, "succeeded");
  assert.notEqual(after.run.workflow_hash, pinnedHash, "retry on the latest version re-pins the run");
  const fixed = after.tasks.find((task) => task.task === "broken");
  assert.deepEqual(
    fixed.attempts.map((attempt) => attempt.outcome),
    ["failed", "failed", "succeeded"],
  );
});

test("a long log loads its older parts and downloads whole", async () => {
  const run = await apiPost("/api/v1/workflows/bulky/runs", { date: "2026-02-01" });
  assert.equal((await ended(run.id)).run.state, "succeeded");
  await page.goto(`${base}/runs/${run.id}/tasks/bulk`);
  const log = page.locator("#log");
  assert.match(await log.textContent(), /bulk line 2500 of/);
  assert.doesNotMatch(await log.textContent(), /bulk line 1 of/, "the page shows the log's end first");
  const older = page.locator("#log-older");
  // Each click prepends the part before; the button hides at the log's start.
  for (let clicks = 0; await older.isVisible(); clicks += 1) {
    assert.ok(clicks < 10, "the log's start is reached");
    const before = (await log.textContent()).length;
    await older.click();
    await page.waitForFunction((length) => document.getElementById("log").textContent.length > length, before, {
      timeout: LIVE,
    });
  }
  const whole = await log.textContent();
  assert.match(whole, /out\| bulk line 1 of/);
  const numbers = [...whole.matchAll(/bulk line (\d+) of/g)].map((match) => Number(match[1]));
  assert.deepEqual(numbers, Array.from({ length: 2500 }, (_, index) => index + 1), "every line once, in order");
  await shoot("log-older");
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("a", { hasText: "Download" }).click()]);
  const saved = fs.readFileSync(await download.path(), "utf8");
  assert.equal(saved.match(/bulk line \d+ of/g).length, 2500);
  assert.match(download.suggestedFilename(), /bulk/);
});

test("the queue shows a task waiting for a pool slot, and why", async () => {
  const run = await apiPost("/api/v1/workflows/pooled/runs", { date: "2026-02-01" });
  await page.goto(`${base}/queue`);
  await mark();
  // A row of the waiting tasks (a task link), not of the queued runs.
  const row = page.locator("#queue tbody tr", { has: page.locator(`a[href^="/runs/${run.id}/tasks/"]`) });
  await row.waitFor({ timeout: LIVE });
  assert.match(await row.locator("td.note").textContent(), /pool single/);
  await shoot("queue-waiting");
  fs.writeFileSync(path.join(project, "go.pooled"), "");
  await row.waitFor({ state: "detached", timeout: LIVE });
  await assertNotReloaded();
  assert.equal((await ended(run.id)).run.state, "succeeded");
});

test("a run triggered with params shows them on its page and in the workflow's strip", async () => {
  await page.goto(`${base}/`);
  const form = card("regional").locator("form.trigger");
  await form.locator('input[name="date"]').fill("2026-02-01");
  await form.locator('input[name="params"]').fill('{"region": "us"}');
  await Promise.all([page.waitForURL(`${base}/workflows/regional`), form.locator('button[type="submit"]').click()]);
  await page.locator("table.grid tbody tr").first().locator("th a").click();
  await page.waitForURL(/\/runs\/\d+$/);
  assert.equal(await page.locator("#run-params").textContent(), '{"region":"us"}');
  await page.locator('#run-state[data-state="succeeded"]').waitFor({ timeout: LIVE });
  const id = Number(page.url().split("/").pop());
  await page.locator(".tabs a", { hasText: "Graph" }).waitFor();
  await shoot("run-params");
  await page.goto(`${base}/runs/${id}/tasks/report`);
  assert.match(await page.locator("#log").textContent(), /report for us/);
  // The workflows page's strip of recent runs links to it.
  await page.goto(`${base}/`);
  await card("regional").locator(`.strip a.chip.s-succeeded[href="/runs/${id}"]`).waitFor();
});

test("a paused workflow is unpaused from the workflows page", async () => {
  await apiSend("PUT", "/api/v1/workflows/bulky/paused", { paused: true }, 200);
  await page.goto(`${base}/`);
  await card("bulky").locator(".badge.s-paused").waitFor();
  const asked = confirmations.length;
  await Promise.all([page.waitForEvent("load"), card("bulky").locator("button", { hasText: "Unpause" }).click()]);
  assert.match(confirmations[asked] ?? "", /^Unpause bulky\?/);
  await card("bulky").locator("button", { hasText: /^Pause$/ }).waitFor();
  assert.equal(await card("bulky").locator(".badge.s-paused").count(), 0);
  const workflows = await api("/api/v1/workflows");
  assert.equal(workflows.find((workflow) => workflow.workflow === "bulky").paused, false);
});

test("a broken workflow file shows its diagnostic with file and line", async () => {
  const file = path.join(project, "workflows", "broken.yaml");
  fs.writeFileSync(file, "timezone: UTC\ntasks:\n  a:\n    sh: echo a\n    needs: [nowhere]\n");
  try {
    await page.goto(`${base}/`);
    const broken = page.locator("li.card.broken", { has: page.locator("h2", { hasText: "workflows/broken.yaml" }) });
    await broken.waitFor();
    const diagnostic = await broken.locator("p.error").textContent();
    assert.match(diagnostic, /^workflows\/broken\.yaml:\d+ /);
    assert.match(diagnostic, /nowhere/);
    await shoot("workflows-broken");
  } finally {
    fs.rmSync(file);
  }
});

test("a state change shows within a second: measured from its record to the page", async () => {
  const run = await apiPost("/api/v1/workflows/steps/runs", { date: "2026-02-01" });
  await page.goto(`${base}/runs/${run.id}`);
  // The page notes when each task's badge first shows it succeeded (swaps replace the
  // elements, so the whole body is watched).
  await page.evaluate(() => {
    window.seenAt = {};
    // A task that succeeded before the page watched is left out (null): when it showed is
    // not known.
    const look = (at) => {
      for (const badge of document.querySelectorAll("#run-tasks .badge[data-task]")) {
        if (badge.dataset.state === "succeeded" && !(badge.dataset.task in window.seenAt)) {
          window.seenAt[badge.dataset.task] = at;
        }
      }
    };
    look(null);
    new MutationObserver(() => look(Date.now())).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
    });
  });
  await mark();
  await page.locator('#run-state[data-state="succeeded"]').waitFor({ timeout: LIVE });
  await assertNotReloaded();
  const seenAt = await page.evaluate(() => window.seenAt);
  const status = await api(`/api/v1/runs/${run.id}`);
  // The attempt's finish as recorded (microseconds cut to the milliseconds JS reads).
  const recorded = (time) => Date.parse(time.replace(/(\.\d{3})\d+/, "$1"));
  const latencies = status.tasks
    .filter((task) => seenAt[task.task] !== null && seenAt[task.task] !== undefined)
    .map((task) => seenAt[task.task] - recorded(task.attempts.at(-1).finished_at))
    .sort((a, b) => a - b);
  // The first task may have finished before the page watched; every later one is measured.
  assert.ok(latencies.length >= 6, `changes measured: ${JSON.stringify(seenAt)}`);
  const median = latencies[Math.floor(latencies.length / 2)];
  console.log(
    `state change to page: median ${median} ms, max ${latencies.at(-1)} ms over ${latencies.length} changes (${latencies.join(", ")})`,
  );
});

test("older runs are reached by the grid's pager", async () => {
  // 27 runs: more than the grid's window of 25.
  const backfill = await apiSend("POST", "/api/v1/backfills", { workflow: "many", from: "2025-12-01", to: "2025-12-27" }, 201);
  assert.equal(backfill.created, 27);
  await page.goto(`${base}/workflows/many`);
  const days = () => page.locator("table.grid tbody tr td.nowrap").allTextContents();
  const first = await days();
  assert.equal(first.length, 25);
  assert.ok(!first.includes("2025-12-01"), `the oldest run is not on the first page: ${first}`);
  await page.locator(".pager a", { hasText: "Older runs" }).click();
  await page.locator(".pager a", { hasText: "Newest" }).waitFor();
  const older = await days();
  assert.ok(older.includes("2025-12-01"), `the oldest run is on an older page: ${older}`);
  assert.ok(older.every((day) => !first.includes(day)), "no run on both pages");
  assert.equal(first.length + older.length, 27);
  await shoot("grid-older");
  await page.locator(".pager a", { hasText: "Newest" }).click();
  assert.deepEqual(await days(), first);
});
