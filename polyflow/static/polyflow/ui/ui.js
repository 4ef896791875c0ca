/* Polyflow dashboard: buttons that call the public REST API (docs/api.md) with the
   session's CSRF token, op logs on demand, a run page that follows its run (its matrix
   groups' progress and its ops' charts too), and tables sortable by any column. */
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var POLL_MS = 1000;

  function api(method, url, body) {
    var options = {method: method, credentials: "same-origin",
                   headers: {"Accept": "application/json", "X-CSRFToken": csrf}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!response.ok) {
          throw new Error((data && data.message) || (response.status + " " + response.statusText));
        }
        return data;
      });
    });
  }

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box) { return; }
    var item = document.createElement("div");
    item.className = "toast" + (kind ? " " + kind : "");
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 8000 : 3000);
  }

  function label(status) { return String(status || "").replace(/_/g, " "); }

  /* Every element showing an op's (or the run's) status carries data-status and a status-* class. */
  function setStatus(element, status) {
    if (!element || element.getAttribute("data-status") === status) { return; }
    element.setAttribute("data-status", status);
    var classes = element.getAttribute("class") || "";
    element.setAttribute("class", classes.replace(/\bstatus-[a-z_]+/g, "").trim() + " status-" + status);
    if (element.classList.contains("badge")) { element.textContent = label(status); }
    var title = element.querySelector && element.querySelector(":scope > title, :scope > a > title");
    if (title) { title.textContent = element.getAttribute("data-op") + " \u2014 " + status; }
  }

  /* -- Buttons -- */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-action]");
    if (!button || button.disabled) { return; }
    var action = button.getAttribute("data-action");
    if (action === "logs") { showLogs(button); return; }
    button.disabled = true;
    button.classList.add("busy");
    var body = action === "trigger" ? {} : undefined;
    api("POST", button.getAttribute("data-url"), body).then(function (data) {
      if (action === "trigger") {
        toast("Run " + data.uuid.slice(0, 8) + " created");
        var url = button.getAttribute("data-run-url").replace(button.getAttribute("data-placeholder"), data.uuid);
        window.location.assign(url);
      } else if (action === "reload") {
        window.location.reload();
      } else if (action === "run") {
        toast((button.id === "stop" ? "Stopping" : "Retrying") + " run " + data.uuid.slice(0, 8));
        button.classList.remove("busy");
        follow.update(data);
        follow.start();
      }
    }).catch(function (error) {
      toast(error.message, "error");
      button.classList.remove("busy");
      button.disabled = false;
    });
  });

  /* -- Logs of an op's current attempt, from the API, on click -- */
  function showLogs(button) {
    var root = document.getElementById("run");
    var op = button.getAttribute("data-op");
    var box = document.querySelector('pre[data-logs="' + op + '"]');
    var url = root.getAttribute("data-logs-api").replace(root.getAttribute("data-op-placeholder"), op);
    button.textContent = "Refresh logs";
    box.hidden = false;
    box.textContent = "Loading\u2026";
    api("GET", url).then(function (data) {
      box.textContent = "";
      var meta = document.createElement("span");
      meta.className = "logs-meta";
      meta.textContent = "# " + data.op + ", attempt " + data.attempt + ": " + data.lines.length + " line" +
        (data.lines.length === 1 ? "" : "s") + "\n";
      box.appendChild(meta);
      box.appendChild(document.createTextNode(data.lines.length ? data.lines.join("\n") : "(no log lines yet)"));
      box.setAttribute("data-loaded", "true");
    }).catch(function (error) {
      box.textContent = "Could not load the logs: " + error.message;
    });
  }

  /* -- The DAG: hovering an op highlights its edges; clicking it opens its row -- */
  document.addEventListener("mouseover", function (event) {
    var node = event.target.closest && event.target.closest("svg.dag g.op");
    var svg = event.target.closest && event.target.closest("svg.dag");
    if (!svg) { return; }
    svg.querySelectorAll(".edge.hl").forEach(function (edge) { edge.classList.remove("hl"); });
    if (!node) { return; }
    var name = node.getAttribute("data-op");
    svg.querySelectorAll(".edge").forEach(function (edge) {
      if (edge.getAttribute("data-from") === name || edge.getAttribute("data-to") === name) {
        edge.classList.add("hl");
      }
    });
  });

  function openOp() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var item = id && document.getElementById(id);
    if (item && item.tagName === "DETAILS") {
      item.open = true;
      item.classList.add("flash");
      setTimeout(function () { item.classList.remove("flash"); }, 1500);
    }
  }
  window.addEventListener("hashchange", openOp);
  document.addEventListener("DOMContentLoaded", openOp);

  /* -- The run page follows its run: polls the API's run endpoint while the run is active -- */
  var follow = (function () {
    var root = document.getElementById("run");
    var timer = null;
    if (!root) { return {update: function () {}, start: function () {}}; }
    var activeRun = root.getAttribute("data-active-statuses").split(" ");
    var activeOp = root.getAttribute("data-op-active-statuses").split(" ");
    var retryable = root.getAttribute("data-retryable-statuses").split(" ");
    var readonly = root.hasAttribute("data-readonly");
    var wasActive = activeRun.indexOf(root.getAttribute("data-status")) >= 0;

    /* One entry per op: a matrix op's group, not its trials (they share its name; the group
       row comes first, the trials are made when it starts). */
    function opsOf(run) {
      var seen = {};
      return run.op_runs.filter(function (op) {
        if ((op.trial !== undefined && op.trial !== null) || seen[op.name]) { return false; }
        seen[op.name] = true;
        return true;
      });
    }

    function update(run) {
      var active = activeRun.indexOf(run.status) >= 0;
      var ops = opsOf(run);
      setStatus(root, run.status);
      setStatus(document.querySelector("#run-status .badge"), run.status);
      document.getElementById("live").hidden = !active;
      ops.forEach(function (op) {
        document.querySelectorAll('[data-op="' + op.name + '"][data-status]').forEach(function (element) {
          if (!element.classList.contains("gantt-bar")) { setStatus(element, op.status); }
        });
        var item = document.getElementById("op-" + op.name);
        if (item) {
          item.querySelector('[data-field="attempt"]').textContent = op.attempt;
          if (op.started_at) {
            item.querySelector('[data-field="duration"]').textContent =
              gantt.duration(((op.finished_at ? Date.parse(op.finished_at) : Date.now()) - Date.parse(op.started_at)) / 1000);
          }
          showReason(item.querySelector('[data-field="reason"]'), op.reason, op.message, "muted small");
        }
        gantt.op(op, activeOp);
      });
      gantt.layout(active);
      facts(run);
      if (run.status !== lastStatus || run.updated_at !== lastUpdate) { history(); }
      lastStatus = run.status;
      lastUpdate = run.updated_at;
      if (!readonly) {
        document.getElementById("stop").disabled = !active;
        document.getElementById("retry").disabled = active || !ops.some(function (op) {
          return retryable.indexOf(op.status) >= 0;
        });
      }
      if (wasActive && !active) {
        // Finished: the server draws the final timeline, attempts, outputs and charts.
        stop();
        window.location.reload();
        return;
      }
      wasActive = active;
      live(ops);
    }

    /* The parts the server draws that move while ops run: the DAG with the groups' progress
       badges, each group's progress line, and the panels (trials, charts) of the active ops
       open on the page. One request a poll, and only when the run has any of them; none while
       one is on its way, and after a slow one (a group of a thousand trials) a pause twice as long. */
    var liveBusy = false, liveAfter = 0;
    var behind = {};  // op -> "active", or "ended" until its panel is drawn once more, final

    function live(ops) {
      ops.forEach(function (op) {
        if (activeOp.indexOf(op.status) >= 0) {
          behind[op.name] = "active";
        } else if (behind[op.name]) {
          behind[op.name] = "ended";
        }
      });
      if (liveBusy || Date.now() < liveAfter) { return; }
      var names = Object.keys(behind).filter(function (name) {
        var item = document.getElementById("op-" + name);
        return item && item.open && item.querySelector(".op-panel");
      });
      var ended = names.filter(function (name) { return behind[name] === "ended"; });
      var wanted = names.map(function (name) { return "op=" + encodeURIComponent(name); });
      if (!wanted.length && !root.getAttribute("data-groups")) { return; }
      var began = Date.now();
      liveBusy = true;
      fetch(root.getAttribute("data-live-url") + "?" + wanted.join("&"),
            {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (response) {
        if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
        return response.text();
      }).then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var dag = doc.querySelector('[data-live="dag"] svg.dag');
        var wrap = document.querySelector(".dag-wrap");
        if (dag && wrap) { wrap.replaceChildren(document.adoptNode(dag)); }
        doc.querySelectorAll("[data-live-progress]").forEach(function (item) {
          var slot = document.querySelector('[data-progress-op="' + item.getAttribute("data-live-progress") + '"]');
          if (slot) { slot.textContent = item.textContent; }
        });
        doc.querySelectorAll(".op-panel[data-panel]").forEach(function (panel) {
          var old = document.querySelector('.op-panel[data-panel="' + panel.getAttribute("data-panel") + '"]');
          if (!old) { return; }
          var fresh = document.adoptNode(panel);
          old.replaceWith(fresh);
          fresh.querySelectorAll("table[data-sortable]").forEach(sorting.restore);
        });
        ended.forEach(function (name) {
          if (behind[name] === "ended") { delete behind[name]; }
        });
      }).catch(function () {}).then(function () {
        liveBusy = false;
        liveAfter = Date.now() + 2 * (Date.now() - began);
      });
    }

    var lastStatus = root.getAttribute("data-status"), lastUpdate = null;

    /* A reason as a pill, then its message (an op's in the list, the run's in the facts strip). */
    function showReason(container, reason, message, messageClass) {
      container.textContent = "";
      if (reason) {
        var pill = document.createElement("span");
        pill.className = "pill reason";
        pill.textContent = label(reason);
        container.appendChild(pill);
        container.appendChild(document.createTextNode(" "));
      }
      var text = document.createElement("span");
      text.className = messageClass;
      text.textContent = message;
      container.appendChild(text);
    }

    function clock(iso) {
      return iso ? new Date(iso).toISOString().slice(11, 19) : "\u2014";
    }

    /* The facts strip: times, duration and reason of the run. */
    function facts(run) {
      document.querySelector('[data-field="started_at"]').textContent = clock(run.started_at);
      document.querySelector('[data-field="finished_at"]').textContent = clock(run.finished_at);
      if (run.started_at) {
        var end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
        document.querySelector('.facts [data-field="duration"]').textContent =
          gantt.duration((end - Date.parse(run.started_at)) / 1000);
      }
      showReason(document.getElementById("run-reason"), run.reason, run.message || (run.reason ? "" : "\u2014"),
                 "muted");
    }

    /* The run's status history, from the API's statuses endpoint, when the run changed. */
    function history() {
      var table = document.getElementById("run-history");
      api("GET", table.getAttribute("data-api") + "?page_size=1000").then(function (data) {
        var body = table.querySelector("tbody");
        body.textContent = "";
        data.results.forEach(function (record) {
          var row = document.createElement("tr");
          row.setAttribute("data-status", record.status);
          var cells = [record.status, label(record.previous) || "\u2014", label(record.reason), record.message,
                       record.created_at.slice(0, 19).replace("T", " ")];
          cells.forEach(function (text, index) {
            var cell = document.createElement("td");
            if (index === 0) {
              var badge = document.createElement("span");
              badge.className = "badge status-" + text;
              badge.setAttribute("data-status", text);
              badge.textContent = label(text);
              cell.appendChild(badge);
            } else {
              cell.textContent = text;
              cell.className = ["", "muted", "", "muted small", "mono small"][index];
            }
            row.appendChild(cell);
          });
          body.appendChild(row);
        });
      }).catch(function () {});
    }

    function poll() {
      api("GET", root.getAttribute("data-run-api")).then(function (run) {
        update(run);
        if (timer !== null) { timer = setTimeout(poll, POLL_MS); }
      }).catch(function () {
        if (timer !== null) { timer = setTimeout(poll, POLL_MS * 3); }
      });
    }

    function start() {
      if (timer === null) { timer = setTimeout(poll, POLL_MS); }
    }

    function stop() {
      if (timer !== null) { clearTimeout(timer); }
      timer = null;
    }

    if (wasActive) { start(); }
    return {update: update, start: start};
  })();

  /* -- The timeline while the run goes on: bars grow, new attempts get a bar -- */
  var gantt = (function () {
    var box = document.getElementById("gantt");
    var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

    function duration(seconds) {
      seconds = Math.round(seconds);
      var parts = [[Math.floor(seconds / 86400), "d"], [Math.floor(seconds % 86400 / 3600), "h"],
                   [Math.floor(seconds % 3600 / 60), "m"], [seconds % 60, "s"]];
      var shown = parts.filter(function (p) { return p[0]; }).map(function (p) { return p[0] + p[1]; });
      return shown.slice(0, 2).join(" ") || "0s";
    }

    function op(run, activeOp) {
      if (!box) { return; }
      var row = box.querySelector('.gantt-row[data-op="' + run.name + '"] .gantt-track');
      if (!row) { return; }
      var bar = row.querySelector('.gantt-bar[data-attempt="' + run.attempt + '"]');
      var active = activeOp.indexOf(run.status) >= 0;
      if (!bar) {
        if (run.status === "created" || (!run.started_at && !active && run.status !== "succeeded" &&
            run.status !== "failed")) { return; }
        bar = document.createElement("span");
        bar.className = "gantt-bar";
        bar.setAttribute("data-op", run.name);
        bar.setAttribute("data-attempt", run.attempt);
        bar.setAttribute("data-start", run.started_at || run.updated_at);
        bar.setAttribute("data-end", "");
        row.appendChild(bar);
        var empty = document.getElementById("gantt-empty");
        if (empty) { empty.remove(); }
      }
      setStatus(bar, run.status === "retrying" ? "failed" : run.status);
      if (!active && !bar.getAttribute("data-end")) {
        bar.setAttribute("data-end", run.finished_at || run.updated_at);
      }
    }

    function layout(running) {
      if (!box) { return; }
      var bars = Array.prototype.slice.call(box.querySelectorAll(".gantt-bar"));
      if (!bars.length) { return; }
      var now = Date.now();
      var start = Math.min.apply(null, bars.map(function (b) { return Date.parse(b.getAttribute("data-start")); }));
      var end = Math.max.apply(null, bars.map(function (b) {
        var e = b.getAttribute("data-end");
        return e ? Date.parse(e) : now;
      }).concat(running ? [now] : []));
      var span = Math.max((end - start) / 1000, 1);
      bars.forEach(function (b) {
        var s = (Date.parse(b.getAttribute("data-start")) - start) / 1000;
        var e = ((b.getAttribute("data-end") ? Date.parse(b.getAttribute("data-end")) : now) - start) / 1000;
        b.style.left = (100 * s / span) + "%";
        b.style.width = Math.max(100 * (e - s) / span, 0) + "%";
      });
      var step = STEPS.filter(function (s) { return span / s <= 6; })[0] || 86400 * Math.ceil(span / 86400 / 6);
      var ticks = document.getElementById("gantt-ticks");
      ticks.textContent = "";
      for (var at = 0; at <= span + 1e-9; at += step) {
        var tick = document.createElement("span");
        tick.className = "tick";
        tick.style.left = (100 * at / span) + "%";
        tick.textContent = at === 0 ? "0" : "+" + duration(at);
        ticks.appendChild(tick);
      }
    }

    return {op: op, layout: layout, duration: duration};
  })();

  /* -- Sortable tables (a group's trials): click a column's head; again to reverse -- */
  var sorting = (function () {
    var state = {};  // table key -> [column, direction]: kept when the live refresh redraws the table

    function key(table) { return table.getAttribute("data-group") || ""; }

    function sort(table, column, direction) {
      var heads = table.tHead.rows[0].cells;
      var numeric = heads[column].getAttribute("data-type") === "number" || rowsOf(table).every(function (row) {
        var value = row.cells[column].getAttribute("data-sort");
        return value === "" || !isNaN(parseFloat(value));
      });
      var rows = rowsOf(table);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-sort"), y = b.cells[column].getAttribute("data-sort");
        if (x === "" || y === "") { return (x === "") - (y === ""); }  // empty cells last, either way
        var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return (order || (parseFloat(a.getAttribute("data-trial")) - parseFloat(b.getAttribute("data-trial")))) *
          direction;
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
      Array.prototype.forEach.call(heads, function (head, index) {
        if (index === column) {
          head.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending");
        } else {
          head.removeAttribute("aria-sort");
        }
      });
      state[key(table)] = [column, direction];
    }

    function rowsOf(table) { return Array.prototype.slice.call(table.tBodies[0].rows); }

    document.addEventListener("click", function (event) {
      var button = event.target.closest("table[data-sortable] th button");
      if (!button) { return; }
      var head = button.closest("th");
      var table = head.closest("table");
      var column = Array.prototype.indexOf.call(head.parentNode.cells, head);
      sort(table, column, head.getAttribute("aria-sort") === "ascending" ? -1 : 1);
    });

    return {restore: function (table) {
      var saved = state[key(table)];
      if (saved) { sort(table, saved[0], saved[1]); }
    }};
  })();
})();
