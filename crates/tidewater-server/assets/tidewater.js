// Tidewater's web UI: the few lines that keep a server-rendered page live.
//
// - Live parts: elements with `hx-swap-oob` are a page's parts that change. When an event of
//   the page's stream arrives (`data-events` on <body>: /api/v1/events, filtered to what the
//   page shows), the page fetches itself again through htmx with `swap: none`, so htmx swaps
//   exactly those parts by id. Refreshes are throttled: at most one in flight, and one more
//   after it if events came meanwhile. A page with `data-poll` (milliseconds) also refreshes
//   that often without an event (a table a stream writes changes without any run).
// - Confirmations: a form with `data-confirm` asks before it is submitted.
// - Logs: <pre id="log"> follows a running attempt's log (`data-url?offset=`), and
//   "Load older" fetches the part before what is shown.
(function () {
  "use strict";

  const body = document.body;
  let isInFlight = false;
  let isDirty = false;
  let timer = null;

  function refresh() {
    timer = null;
    if (isInFlight) {
      isDirty = true;
      return;
    }
    isInFlight = true;
    isDirty = false;
    htmx
      .ajax("GET", window.location.pathname + window.location.search, {
        target: "body",
        swap: "none",
      })
      .catch(function () {})
      .finally(function () {
        isInFlight = false;
        if (isDirty) {
          schedule();
        }
      });
  }

  function schedule() {
    if (timer === null) {
      timer = window.setTimeout(refresh, 150);
    }
  }

  if (body.dataset.events) {
    const source = new EventSource(body.dataset.events);
    ["run", "task", "attempt"].forEach(function (kind) {
      source.addEventListener(kind, schedule);
    });
    // A stream starts at the newest event when it opens: what changed between rendering the
    // page and subscribing (or while reconnecting) is fetched once now.
    source.addEventListener("open", schedule);
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }

  if (body.dataset.poll) {
    window.setInterval(schedule, Number(body.dataset.poll));
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  const log = document.getElementById("log");
  if (log) {
    followLog(log);
  }

  function followLog(log) {
    const url = log.dataset.url;
    let start = Number(log.dataset.start);
    let end = Number(log.dataset.end);
    const status = document.getElementById("log-status");
    const older = document.getElementById("log-older");
    const encoder = new TextEncoder();

    function isAtBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    }

    function poll() {
      fetch(url + "?offset=" + end, { cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("the log could not be read");
          }
          const next = Number(response.headers.get("X-Next-Offset"));
          const isRunning = response.headers.get("X-Attempt-Running") === "true";
          return response.text().then(function (text) {
            if (text.length > 0) {
              const wasAtBottom = isAtBottom();
              log.append(document.createTextNode(text));
              if (wasAtBottom) {
                log.scrollTop = log.scrollHeight;
              }
            }
            end = next;
            log.dataset.end = String(end);
            if (isRunning) {
              window.setTimeout(poll, 500);
            } else {
              log.dataset.running = "false";
              status.textContent = "complete";
            }
          });
        })
        .catch(function () {
          status.textContent = "stopped following: the log could not be read";
        });
    }

    if (log.dataset.running === "true") {
      log.scrollTop = log.scrollHeight;
      window.setTimeout(poll, 500);
    }

    if (older) {
      older.addEventListener("click", function () {
        const from = Math.max(0, start - 65536);
        fetch(url + "?offset=" + from + "&end=" + start, { cache: "no-store" })
          .then(function (response) {
            return response.text();
          })
          .then(function (text) {
            let part = text;
            let first = from;
            if (from > 0) {
              // Start at a whole line.
              const newline = part.indexOf("\n");
              const cut = newline < 0 ? part.length : newline + 1;
              first += encoder.encode(part.slice(0, cut)).length;
              part = part.slice(cut);
            }
            log.prepend(document.createTextNode(part));
            start = first;
            log.dataset.start = String(start);
            older.hidden = start === 0;
          })
          .catch(function () {
            status.textContent = "the older part could not be read";
          });
      });
    }
  }
})();
