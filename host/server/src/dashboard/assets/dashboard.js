// savepoint dashboard: live updates and actions. The pages read without this script;
// it only (1) follows the Server-Sent Events of the run or of every run and refreshes
// the parts of the page that changed, and (2) sends the run page's forms to the JSON
// API with fetch. Every text it writes goes through textContent, never innerHTML.
"use strict";

(function () {
  // The event names a run's stream sends (COMMON: step events are sent as completed,
  // failed or parked when that is the run's status after them).
  const EVENT_NAMES = ["created", "forked", "step", "completed", "failed", "parked",
    "attempt_failed", "interrupted", "woke", "answered", "resumed", "cancelled",
    "edited", "upgraded", "replayed", "lease_taken_over", "signalled", "waiting", "log"];
  const FINISHED = ["completed", "failed", "cancelled"];

  // Fetches this page again and swaps in the parts named by `idsNow()` (the server renders
  // them: one place decides how a run looks). At most one fetch at a time; a change
  // that arrives during one asks for one more.
  function refresher(idsNow, minGapMs) {
    let busy = false, again = false, last = 0;
    async function run() {
      if (busy) { again = true; return; }
      busy = true;
      const wait = Math.max(0, last + minGapMs - Date.now());
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        last = Date.now();
        const response = await fetch(location.href, { headers: { Accept: "text/html" } });
        if (response.ok) {
          const doc = new DOMParser().parseFromString(await response.text(), "text/html");
          // A state the reader opened stays open.
          const open = new Set([...document.querySelectorAll("details[data-state][open]")]
            .map((d) => d.dataset.state));
          for (const id of idsNow()) {
            const now = document.getElementById(id), fresh = doc.getElementById(id);
            if (now && fresh) now.replaceWith(document.importNode(fresh, true));
          }
          for (const details of document.querySelectorAll("details[data-state]")) {
            if (open.has(details.dataset.state)) details.open = true;
          }
          document.dispatchEvent(new Event("savepoint:refreshed"));
        }
      } catch (_) {
        // The next event tries again.
      } finally {
        busy = false;
        if (again) { again = false; run(); }
      }
    }
    return run;
  }

  // ---- A run's page -------------------------------------------------------------
  function runPage(root) {
    const thread = root.dataset.thread;
    let source = null, polling = null;
    // The events list grows from the stream while there is one (the server's page
    // holds the first events only); without one, the server's list replaces it.
    const refresh = refresher(() => {
      const ids = ["run-summary", "graph", "history", "logs", "pinned", "answer-hint"];
      return polling ? ids.concat(["events"]) : ids;
    }, 250);

    const finished = () => {
      const status = document.getElementById("run-status");
      return !!status && FINISHED.includes(status.textContent.trim());
    };

    function lastShown() {
      const list = document.getElementById("events-list");
      return list ? Number(list.dataset.lastEvent || 0) : 0;
    }

    // An event as the server writes it in the list (run.rs, event_item): shown at
    // once; the refresh that follows replaces the list with the server's.
    function appendEvent(data) {
      const list = document.getElementById("events-list");
      if (!list || typeof data.id !== "number" || data.id <= lastShown()) return;
      const li = document.createElement("li");
      li.dataset.eventId = String(data.id);
      const kind = document.createElement("span");
      kind.className = "event-kind";
      kind.textContent = data.event;
      const at = document.createElement("span");
      at.className = "muted";
      at.textContent = data.at || "";
      const rest = {};
      for (const [key, value] of Object.entries(data)) {
        if (!["id", "at", "step", "event", "thread"].includes(key)) rest[key] = value;
      }
      const code = document.createElement("code");
      code.textContent = JSON.stringify(rest);
      li.append(kind, " step " + data.step + " ", at, " ", code);
      list.append(li);
      list.dataset.lastEvent = String(data.id);
    }

    // Without an event stream (a server or proxy that does not send one), the page
    // asks again every two seconds until the run has finished.
    function poll() {
      if (polling) return;
      polling = setInterval(() => {
        if (finished()) { clearInterval(polling); polling = null; return; }
        refresh();
      }, 2000);
    }

    function follow() {
      if (source) source.close();
      if (!window.EventSource) { poll(); return; }
      source = new EventSource(root.dataset.events);
      source.onerror = () => {
        // CLOSED: the answer was not a stream (the browser gives up); otherwise the
        // browser reconnects with Last-Event-ID by itself.
        if (source && source.readyState === EventSource.CLOSED) { source = null; poll(); }
      };
      for (const name of EVENT_NAMES) {
        source.addEventListener(name, (message) => {
          let data = {};
          try { data = JSON.parse(message.data); } catch (_) { /* keep {} */ }
          if (name !== "log") appendEvent(data);
          refresh();
          // The stream ends once the run has finished: stop, or the browser would
          // reconnect to an ended stream again and again. An action starts it again.
          if (FINISHED.includes(name) || FINISHED.includes(data.status)) {
            source.close();
            source = null;
          }
        });
      }
    }

    if (!finished()) follow();
    actions(root, thread, () => { refresh(); if (!source) follow(); });
    stateOnDemand();
    document.addEventListener("savepoint:refreshed", stateOnDemand);
  }

  // The whole state of a step, fetched when its <details> opens.
  function stateOnDemand() {
    for (const details of document.querySelectorAll("details.state[data-state]")) {
      if (details.dataset.wired) continue;
      details.dataset.wired = "1";
      details.addEventListener("toggle", async () => {
        if (!details.open || details.dataset.loaded) return;
        details.dataset.loaded = "1";
        const pre = document.createElement("pre");
        pre.textContent = "loading…";
        details.append(pre);
        try {
          const response = await fetch(details.dataset.state, { headers: { Accept: "application/json" } });
          const body = await response.json();
          pre.textContent = response.ok ? JSON.stringify(body, null, 2) : errorText(body, response);
        } catch (error) {
          pre.textContent = "cannot load the state: " + error;
        }
      });
    }
  }

  function errorText(body, response) {
    if (body && body.error && body.error.message) return body.error.message;
    return "the server answered " + response.status;
  }

  // Shows `text` under the form's button: an error (role=alert, read out at once) or
  // a confirmation (role=status).
  function say(form, text, kind) {
    for (const old of form.querySelectorAll(".form-message")) old.remove();
    if (!text) return;
    const p = document.createElement("p");
    p.className = "form-message " + (kind === "error" ? "error" : "ok");
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.textContent = text;
    form.querySelector("fieldset").append(p);
  }

  // JSON typed in a textarea, or an error message that says what is wrong.
  function parseJson(text, what, mustBeObject) {
    let value;
    try { value = JSON.parse(text); } catch (error) {
      return { error: what + " is not valid JSON: " + error.message };
    }
    if (mustBeObject && (value === null || typeof value !== "object" || Array.isArray(value))) {
      return { error: what + " must be a JSON object, such as {\"key\": \"value\"}" };
    }
    return { value };
  }

  function actions(root, thread, changed) {
    for (const form of root.querySelectorAll("form.action")) {
      const fieldset = form.querySelector("fieldset");
      fieldset.disabled = false;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const field = (name) => form.elements.namedItem(name);
        let body = null;
        let url = form.dataset.url;
        switch (form.dataset.action) {
          case "signal": {
            const name = field("name").value.trim();
            if (!name) { say(form, "Signal name is required", "error"); field("name").focus(); return; }
            const text = field("data").value.trim();
            const parsed = text ? parseJson(text, "Data", false) : { value: null };
            if (parsed.error) { say(form, parsed.error, "error"); field("data").focus(); return; }
            body = { data: parsed.value };
            url += encodeURIComponent(name);
            break;
          }
          case "answer": {
            const parsed = parseJson(field("answer").value, "The answer", false);
            if (parsed.error) { say(form, parsed.error, "error"); field("answer").focus(); return; }
            body = { input: parsed.value };
            break;
          }
          case "fork": {
            const step = Number(field("step").value);
            if (!Number.isInteger(step) || step < 0) { say(form, "Fork at step must be a step number (0 and up)", "error"); return; }
            body = { step, thread: field("thread").value };
            break;
          }
          case "update": {
            const parsed = parseJson(field("values").value, "Values", true);
            if (parsed.error) { say(form, parsed.error, "error"); field("values").focus(); return; }
            body = { values: parsed.value };
            const asNode = field("as_node").value.trim();
            if (asNode) body.as_node = asNode;
            break;
          }
        }
        say(form, "");
        fieldset.disabled = true;
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json", Accept: "application/json" },
            body: body === null ? "" : JSON.stringify(body),
          });
          const answer = await response.json().catch(() => null);
          if (!response.ok) { say(form, errorText(answer, response), "error"); return; }
          // A schedule paused or resumed: its page shows it as it is now.
          if (form.dataset.action === "pause" || form.dataset.action === "resume") {
            changed();
            return;
          }
          if (form.dataset.action === "fork" && answer && answer.thread) {
            location.assign("/ui/runs/" + encodeURIComponent(answer.thread));
            return;
          }
          say(form, "Done: the run is " + (answer && answer.status ? answer.status : "updated") + ".", "ok");
          changed();
        } catch (error) {
          say(form, "The request failed: " + error, "error");
        } finally {
          fieldset.disabled = false;
        }
      });
    }
  }

  // ---- The runs list -------------------------------------------------------------
  function runsPage(root) {
    const refresh = refresher(() => ["counts", "runs-table"], 1000);
    const source = new EventSource(root.dataset.events);
    for (const name of EVENT_NAMES) source.addEventListener(name, () => refresh());
    // No stream: ask again every five seconds instead.
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) setInterval(refresh, 5000);
    };
  }

  function start() {
    const run = document.getElementById("run");
    if (run) runPage(run);
    const schedules = document.getElementById("schedules");
    if (schedules) actions(schedules, null, () => location.reload());
    const runs = document.getElementById("runs-live");
    if (runs && window.EventSource) runsPage(runs);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
