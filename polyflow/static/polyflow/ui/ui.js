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
          var error = new Error((data && data.message) || (response.status + " " + response.statusText));
          error.status = response.status;
          error.data = data;
          throw error;
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
    if (action === "logs") { logs.show(button.getAttribute("data-op")); return; }
    if (action.indexOf("op-") === 0) { opAction(button, action); return; }
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

  /* -- An op's buttons: retry (with what depends on it), stop, mark succeeded / failed / skipped -- */
  function opAction(button, action) {
    var op = button.getAttribute("data-op");
    var url = button.getAttribute("data-url"), body;
    if (action === "op-mark") {
      var root = document.getElementById("run");
      var box = button.closest(".op-actions");
      var status = box.querySelector("[data-mark-status]").value;
      var reason = box.querySelector("[data-mark-reason]").value.trim();
      url = root.getAttribute("data-mark-api").replace(root.getAttribute("data-op-placeholder"), op);
      body = {status: status, reason: reason};
    }
    button.disabled = true;
    button.classList.add("busy");
    api("POST", url, body).then(function (data) {
      var done = {"op-retry": "Retrying ", "op-stop": "Stopping ", "op-mark": "Marked "}[action];
      toast(done + op + (action === "op-mark" ? " " + body.status : ""));
      button.classList.remove("busy");
      button.disabled = false;
      follow.start(true);
    }).catch(function (error) {
      toast(error.message, "error");
      button.classList.remove("busy");
      button.disabled = false;
    });
  }

  /* -- Logs of an op, by attempt (the current one first); a running op's followed live -- */
  var logs = (function () {
    var following = {};  // op -> {attempt, offset, timer}
    var FOLLOW_MS = 1000;

    function urlOf(op) {
      var root = document.getElementById("run");
      return root.getAttribute("data-logs-api").replace(root.getAttribute("data-op-placeholder"),
                                                         encodeURIComponent(op));
    }

    function opActive(op) {
      var badge = document.querySelector('.badge[data-op="' + op + '"]');
      var root = document.getElementById("run");
      var active = root.getAttribute("data-op-active-statuses").split(" ");
      return badge && active.indexOf(badge.getAttribute("data-status")) >= 0 && badge.getAttribute("data-status") !== "created";
    }

    function draw(box, data, asked, append) {
      var lines = data.lines || [];
      if (!append) {
        box.textContent = "";
        var meta = document.createElement("span");
        meta.className = "logs-meta";
        meta.textContent = "# " + data.op + ", attempt " + data.attempt +
          (String(data.attempt) !== String(asked) ? " (attempt " + asked + "'s logs are not kept)" : "") + "\n";
        box.appendChild(meta);
        var body = document.createElement("span");
        body.className = "logs-body";
        box.appendChild(body);
      }
      var target = box.querySelector(".logs-body");
      var atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      if (append) {
        if (lines.length) { target.appendChild(document.createTextNode((target.textContent ? "\n" : "") + lines.join("\n"))); }
      } else {
        target.textContent = lines.length ? lines.join("\n") : "";
      }
      box.setAttribute("data-empty", target.textContent ? "false" : "true");
      box.setAttribute("data-lines", String(target.textContent ? target.textContent.split("\n").length : 0));
      if (atBottom) { box.scrollTop = box.scrollHeight; }
    }

    function fetchLogs(op, state) {
      var box = document.querySelector('pre[data-logs="' + op + '"]');
      // The API takes no empty values: without an attempt (no selector) the current one is read.
      var query = state.attempt ? "?attempt=" + state.attempt : "";
      return api("GET", urlOf(op) + query).then(function (data) {
        var append = state.offset !== null && data.offset !== undefined;
        var next = data.next_offset !== undefined ? data.next_offset : null;
        draw(box, data, state.attempt, append);
        state.offset = next;
        box.setAttribute("data-loaded", "true");
        box.setAttribute("data-attempt", String(data.attempt));
      });
    }

    function show(op) {
      var box = document.querySelector('pre[data-logs="' + op + '"]');
      var select = document.querySelector('select[data-logs-attempt="' + op + '"]');
      var attempt = select ? select.value : "";
      stopFollowing(op);
      var state = {attempt: attempt, offset: null, timer: null};
      following[op] = state;
      box.hidden = false;
      box.textContent = "Loading\u2026";
      var button = document.querySelector('button[data-action="logs"][data-op="' + op + '"]');
      if (button) { button.textContent = "Refresh logs"; }
      fetchLogs(op, state).then(function () {
        var current = select && select.options.length && select.value === select.options[0].value;
        if (current && opActive(op)) { follow_(op, state); }
      }).catch(function (error) {
        box.textContent = "Could not load the logs: " + error.message;
      });
    }

    /* While the op runs: ask again every second (from the offset reached, when the API gives one);
       once it ended, one last time, then stop. */
    function follow_(op, state) {
      var live = document.querySelector('[data-logs-live="' + op + '"]');
      if (live) { live.hidden = false; }
      var tick = function () {
        if (following[op] !== state) { return; }
        var active = opActive(op);
        fetchLogs(op, state).catch(function () {}).then(function () {
          if (following[op] !== state) { return; }
          if (active) {
            state.timer = setTimeout(tick, FOLLOW_MS);
          } else {
            if (live) { live.hidden = true; }
            state.timer = null;
          }
        });
      };
      state.timer = setTimeout(tick, FOLLOW_MS);
    }

    function stopFollowing(op) {
      var state = following[op];
      if (state && state.timer) { clearTimeout(state.timer); }
      delete following[op];
      var live = document.querySelector('[data-logs-live="' + op + '"]');
      if (live) { live.hidden = true; }
    }

    document.addEventListener("change", function (event) {
      var select = event.target.closest && event.target.closest("select[data-logs-attempt]");
      if (select) { show(select.getAttribute("data-logs-attempt")); }
    });

    /* A new attempt began (a retry): the selector gets it, and an open log follows it. */
    function attempts(op, attempt, active) {
      var select = document.querySelector('select[data-logs-attempt="' + op + '"]');
      if (!select || !select.options.length) { return; }
      var newest = parseInt(select.options[0].value, 10);
      if (attempt > newest) {
        select.options[0].textContent = "#" + newest;
        for (var number = newest + 1; number <= attempt; number++) {
          var option = document.createElement("option");
          option.value = String(number);
          option.textContent = "#" + number + (number === attempt ? " (current)" : "");
          select.insertBefore(option, select.options[0]);
        }
        select.value = String(attempt);
        if (following[op] || document.querySelector('pre[data-logs="' + op + '"][data-loaded]')) { show(op); }
      } else if (active && !following[op] && select.value === select.options[0].value &&
                 document.querySelector('pre[data-logs="' + op + '"][data-loaded]')) {
        show(op);
      }
    }

    return {show: show, attempts: attempts};
  })();

  /* -- The trigger form: typed fields built from the pipeline's inputs; only changed ones are sent -- */
  function fieldValue(input) {
    var kind = input.getAttribute("data-kind");
    if (kind === "bool") { return input.checked; }
    var text = input.value;
    if (kind === "integer" || kind === "number") {
      if (text.trim() === "") { return input.validity && input.validity.badInput ? text : null; }
      var number = Number(text);
      return isNaN(number) ? text : number;
    }
    if (kind === "json") {
      if (text.trim() === "") { return null; }
      try { return JSON.parse(text); } catch (e) { return text; }
    }
    return text;
  }

  function changed(input) {
    if (input.getAttribute("data-kind") === "bool") {
      return String(input.checked) !== input.getAttribute("data-initial");
    }
    return input.value !== input.getAttribute("data-initial") || (input.validity && input.validity.badInput);
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-toggle]");
    if (!toggle || toggle.disabled) { return; }
    var target = document.getElementById(toggle.getAttribute("data-toggle"));
    if (!target) { return; }
    target.hidden = !target.hidden;
    document.querySelectorAll('[aria-controls="' + target.id + '"]').forEach(function (item) {
      item.setAttribute("aria-expanded", String(!target.hidden));
    });
    if (!target.hidden) {
      var first = target.querySelector("input, select");
      if (first) { first.focus(); }
    }
  });

  /* Each of the API's errors under the field of its path; the others in the form's summary. */
  function showErrors(form, error, summary) {
    var unplaced = [];
    ((error.data && error.data.errors) || []).forEach(function (item) {
      var field = null;
      form.querySelectorAll(".field[data-path]").forEach(function (candidate) {
        if (candidate.getAttribute("data-path") === item.path) { field = candidate; }
      });
      if (field) {
        field.classList.add("invalid");
        var message = field.querySelector(".field-error");
        message.textContent = (message.textContent ? message.textContent + "; " : "") + item.message;
        message.hidden = false;
      } else {
        unplaced.push((item.path ? item.path + ": " : "") + item.message);
      }
    });
    summary.textContent = error.message + (unplaced.length ? ": " + unplaced.join("; ") : "");
    summary.hidden = false;
    var bad = form.querySelector(".field.invalid input, .field.invalid select");
    if (bad) { bad.focus(); }
  }

  function clearErrors(form, summary) {
    form.querySelectorAll(".field").forEach(function (field) {
      field.classList.remove("invalid");
      var message = field.querySelector(".field-error");
      message.hidden = true;
      message.textContent = "";
    });
    summary.hidden = true;
  }

  /* An event's fire form: every field with a value goes into the payload. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "fire-form") { return; }
    event.preventDefault();
    var payload = {};
    form.querySelectorAll("[data-input]").forEach(function (input) {
      var value = fieldValue(input);
      if (value === null || value === "") { return; }
      payload[input.getAttribute("data-input")] = value;
    });
    var summary = document.getElementById("fire-error"), fired = document.getElementById("fired");
    clearErrors(form, summary);
    fired.hidden = true;
    var button = document.getElementById("fire-submit");
    button.disabled = true;
    api("POST", form.getAttribute("data-url"), {payload: payload}).then(function (data) {
      button.disabled = false;
      fired.textContent = "";
      var head = document.createElement("li");
      head.className = "strong";
      head.textContent = "Fired: " + data.runs.length + " run" + (data.runs.length === 1 ? "" : "s") + " created";
      fired.appendChild(head);
      data.runs.forEach(function (run) {
        var item = document.createElement("li"), link = document.createElement("a");
        link.href = form.getAttribute("data-run-url").replace("OWNER", run.owner).replace("PROJECT", run.project)
          .replace(form.getAttribute("data-placeholder"), run.uuid);
        link.className = "mono";
        link.textContent = run.uuid.slice(0, 8);
        item.appendChild(link);
        item.appendChild(document.createTextNode(" of " + run.owner + "/" + run.project + "/" + run.pipeline));
        fired.appendChild(item);
      });
      fired.hidden = false;
      toast("Fired " + data.event);
    }).catch(function (error) {
      button.disabled = false;
      showErrors(form, error, summary);
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "trigger-form") { return; }
    event.preventDefault();
    var params = {};
    form.querySelectorAll("[data-input]").forEach(function (input) {
      if (!changed(input)) { return; }
      var op = input.getAttribute("data-op");
      (params[op] = params[op] || {})[input.getAttribute("data-input")] = fieldValue(input);
    });
    var summary = document.getElementById("trigger-error");
    clearErrors(form, summary);
    var button = document.getElementById("trigger-submit");
    button.disabled = true;
    button.classList.add("busy");
    api("POST", form.getAttribute("data-url"), {params: params}).then(function (data) {
      toast("Run " + data.uuid.slice(0, 8) + " created");
      window.location.assign(form.getAttribute("data-run-url").replace(form.getAttribute("data-placeholder"), data.uuid));
    }).catch(function (error) {
      button.disabled = false;
      button.classList.remove("busy");
      showErrors(form, error, summary);
    });
  });

  /* -- The runs page's filters apply as soon as one changes -- */
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form#run-filters");
    if (form && event.target.name !== "q" && event.target.type !== "datetime-local") { form.submit(); }
  });

  /* -- Times: the server writes UTC; shown here in the viewer's zone (UTC kept in the title) -- */
  var localTimes = (function () {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = "UTC"; }
    function parts(date, options) {
      var out = {};
      new Intl.DateTimeFormat("en-GB", Object.assign({timeZone: zone, hourCycle: "h23"}, options))
        .formatToParts(date).forEach(function (part) { out[part.type] = part.value; });
      return out;
    }
    function text(date, style) {
      var p = parts(date, {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                           second: "2-digit", timeZoneName: "short"});
      var month = new Intl.DateTimeFormat("en-US", {timeZone: zone, month: "short"}).format(date);
      var clock = p.hour + ":" + p.minute + ":" + p.second;
      var shown = {
        full: p.year + "-" + p.month + "-" + p.day + " " + clock,
        minute: p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute,
        short: month + " " + parseInt(p.day, 10) + ", " + clock,
        time: clock,
        ms: clock + "." + String(date.getUTCMilliseconds()).padStart(3, "0")
      }[style] || clock;
      return shown + " " + (p.timeZoneName || zone);
    }
    function rewrite(scope) {
      (scope || document).querySelectorAll("time[data-local]").forEach(function (element) {
        var date = new Date(element.getAttribute("datetime"));
        if (isNaN(date.getTime())) { return; }
        element.textContent = text(date, element.getAttribute("data-local"));
        element.setAttribute("data-zone", zone);
      });
    }
    document.addEventListener("DOMContentLoaded", function () {
      rewrite(document);
      // The runs filters' From and To are typed on the viewer's clock: the server is told which.
      var field = document.getElementById("filter-tz");
      if (field) {
        field.value = zone;
        document.querySelectorAll("#run-filters .zone-name").forEach(function (label) { label.textContent = zone; });
      }
    });
    return {rewrite: rewrite, text: text, zone: zone};
  })();

  /* -- Zoom and pan of a DAG: buttons, Ctrl/⌘ + wheel (or a pinch) around the pointer, drag to pan.
     The SVG keeps its own size and viewBox; only its drawn size changes, so a redraw (the live
     refresh) is zoomed again as it was. -- */
  var dagZoom = (function () {
    var MIN = 0.1, MAX = 2.5, STEP = 1.25;
    function svgOf(wrap) { return wrap.querySelector("svg.dag"); }
    function size(svg) { return [parseFloat(svg.getAttribute("width")) || 1, parseFloat(svg.getAttribute("height")) || 1]; }
    function fitScale(wrap, widthOnly) {
      var svg = svgOf(wrap), natural = size(svg);
      var room = [wrap.clientWidth - 16, Math.max(wrap.clientHeight, 200) - 16];
      var scale = widthOnly ? room[0] / natural[0] : Math.min(room[0] / natural[0], room[1] / natural[1]);
      return Math.max(MIN, Math.min(1, scale));
    }
    function apply(wrap) {
      var svg = svgOf(wrap);
      if (!svg) { return; }
      var scale = parseFloat(wrap.getAttribute("data-zoom") || "1"), natural = size(svg);
      svg.style.width = (natural[0] * scale).toFixed(1) + "px";
      svg.style.height = (natural[1] * scale).toFixed(1) + "px";
      var label = wrap.parentNode.querySelector("[data-zoom-level]");
      if (label) { label.textContent = Math.round(scale * 100) + "%"; }
    }
    function set(wrap, scale, clientX, clientY) {
      var old = parseFloat(wrap.getAttribute("data-zoom") || "1");
      scale = Math.max(MIN, Math.min(MAX, scale));
      var box = wrap.getBoundingClientRect();
      var px = clientX === undefined ? box.width / 2 : clientX - box.left;
      var py = clientY === undefined ? box.height / 2 : clientY - box.top;
      // The point of the drawing under the pointer stays under it.
      var x = (wrap.scrollLeft + px) / old, y = (wrap.scrollTop + py) / old;
      wrap.setAttribute("data-zoom", scale.toFixed(3));
      apply(wrap);
      wrap.scrollLeft = x * scale - px;
      wrap.scrollTop = y * scale - py;
    }
    function setUp(wrap) {
      if (!svgOf(wrap) || wrap.hasAttribute("data-zoom")) { return; }
      var tools = document.createElement("div");
      tools.className = "dag-tools";
      tools.setAttribute("role", "toolbar");
      tools.setAttribute("aria-label", "zoom");
      tools.innerHTML = '<button type="button" class="btn small" data-zoom="out" title="Zoom out" aria-label="Zoom out">\u2212</button>' +
        '<span class="muted small mono" data-zoom-level aria-live="polite">100%</span>' +
        '<button type="button" class="btn small" data-zoom="in" title="Zoom in" aria-label="Zoom in">+</button>' +
        '<button type="button" class="btn small" data-zoom="fit" title="The whole graph">Fit</button>' +
        '<button type="button" class="btn small" data-zoom="one" title="Actual size">100%</button>' +
        '<span class="muted small zoom-hint">Ctrl + wheel zooms, drag pans</span>';
      wrap.parentNode.insertBefore(tools, wrap);
      // At first as wide as the card when that keeps names readable (half size at least); else actual size.
      var scale = fitScale(wrap, true);
      wrap.setAttribute("data-zoom", (scale >= 0.5 ? scale : 1).toFixed(3));
      apply(wrap);
      tools.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-zoom]");
        if (!button) { return; }
        var current = parseFloat(wrap.getAttribute("data-zoom"));
        var wanted = {"in": current * STEP, "out": current / STEP, "fit": fitScale(wrap), "one": 1}[button.getAttribute("data-zoom")];
        set(wrap, wanted);
      });
      wrap.addEventListener("wheel", function (event) {
        if (!event.ctrlKey && !event.metaKey) { return; }
        event.preventDefault();
        set(wrap, parseFloat(wrap.getAttribute("data-zoom")) * Math.pow(1.0015, -event.deltaY), event.clientX, event.clientY);
      }, {passive: false});
      var drag = null;
      wrap.addEventListener("pointerdown", function (event) {
        if (event.button !== 0) { return; }
        drag = {x: event.clientX, y: event.clientY, left: wrap.scrollLeft, top: wrap.scrollTop, moved: false};
      });
      wrap.addEventListener("pointermove", function (event) {
        if (!drag) { return; }
        var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) { return; }
        if (!drag.moved) { drag.moved = true; wrap.classList.add("panning"); wrap.setPointerCapture(event.pointerId); }
        wrap.scrollLeft = drag.left - dx;
        wrap.scrollTop = drag.top - dy;
      });
      function end(event) {
        if (drag && drag.moved) {
          wrap.classList.remove("panning");
          // A drag that ends on an op is no click on it.
          var swallow = function (click) { click.preventDefault(); click.stopPropagation(); };
          wrap.addEventListener("click", swallow, {capture: true, once: true});
          setTimeout(function () { wrap.removeEventListener("click", swallow, {capture: true}); }, 0);
        }
        drag = null;
      }
      wrap.addEventListener("pointerup", end);
      wrap.addEventListener("pointercancel", end);
    }
    document.addEventListener("DOMContentLoaded", function () {
      document.querySelectorAll(".dag-wrap").forEach(setUp);
    });
    return {apply: apply, set: set, setUp: setUp};
  })();

  /* -- A large group's trials, a page at a time: its op body fetched again with ?trials=N -- */
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-trials-go]");
    var body = button && button.closest(".op-body[data-body]");
    if (!body || button.disabled) { return; }
    button.disabled = true;
    var url = body.getAttribute("data-body") + "?trials=" + encodeURIComponent(button.getAttribute("data-trials-go"));
    fetch(url, {credentials: "same-origin", headers: {"Accept": "text/html"}}).then(function (response) {
      if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html").querySelector(".op-panel");
      var old = body.querySelector(".op-panel");
      if (!fresh || !old) { throw new Error("no trials"); }
      var adopted = document.adoptNode(fresh);
      old.replaceWith(adopted);
      adopted.querySelectorAll("table[data-sortable]").forEach(sorting.restore);
      var pager = adopted.querySelector(".trials-pager");
      if (pager) { pager.scrollIntoView({block: "nearest"}); }
    }).catch(function (error) {
      button.disabled = false;
      toast("Cannot load the trials: " + error.message, "error");
    });
  });

  /* -- A large run's op bodies: fetched from the page's fragment when a row is first opened -- */
  document.addEventListener("toggle", function (event) {
    var item = event.target;
    if (!item.open || !item.classList || !item.classList.contains("op-item")) { return; }
    var body = item.querySelector(":scope > .op-body[data-lazy]");
    if (!body || body.hasAttribute("data-loading")) { return; }
    body.setAttribute("data-loading", "");
    fetch(body.getAttribute("data-lazy"), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
        return response.text();
      }).then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").querySelector(".op-body");
        if (!fresh) { throw new Error("no op body"); }
        fresh = document.adoptNode(fresh);
        body.replaceWith(fresh);
        localTimes.rewrite(fresh);
        fresh.querySelectorAll("table[data-sortable]").forEach(sorting.restore);
      }).catch(function (error) {
        body.removeAttribute("data-loading");
        body.textContent = "Could not load the op: " + error.message;
      });
  }, true);

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
          var cell = item.querySelector('[data-field="duration"]');
          if (op.started_at) {
            // The op's own times, as the API gives them (to the microsecond).
            var seconds = Math.max(((op.finished_at ? Date.parse(op.finished_at) : Date.now()) -
                                    Date.parse(op.started_at)) / 1000, 0);
            cell.textContent = gantt.duration(seconds);
            cell.setAttribute("data-seconds", op.finished_at ? exactSeconds(op.started_at, op.finished_at) : "");
          } else {
            cell.textContent = "";
            cell.setAttribute("data-seconds", "");
          }
          showReason(item.querySelector('[data-field="reason"]'), op.reason, op.message, "muted small");
          opTimes(item, op);
          opButtons(item, op);
        }
        logs.attempts(op.name, op.attempt, activeOp.indexOf(op.status) >= 0 && op.status !== "created");
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
      if ((wasActive || reloadWhenIdle) && !active) {
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
      // A group's trials table open on another page than the first is redrawn on that page.
      names.forEach(function (name) {
        var pager = document.querySelector('.op-panel[data-panel="' + CSS.escape(name) + '"] [data-trials-page]');
        var number = pager ? parseInt(pager.getAttribute("data-trials-page"), 10) : 1;
        if (number > 1) { wanted.push("trials=" + encodeURIComponent(name + ":" + number)); }
      });
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
        if (dag && wrap) { wrap.replaceChildren(document.adoptNode(dag)); dagZoom.apply(wrap); }
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

    var lastStatus = root.getAttribute("data-status"), lastUpdate = null, reloadWhenIdle = false;

    /* Seconds between two of the API's times, to the microsecond (Date.parse stops at the millisecond). */
    function exactSeconds(start, end) {
      function micros(iso) {
        var fraction = (iso.match(/\.(\d+)/) || [null, "0"])[1];
        return Date.parse(iso.replace(/\.\d+/, "")) * 1000 + parseInt((fraction + "000000").slice(0, 6), 10);
      }
      return ((micros(end) - micros(start)) / 1e6).toFixed(6);
    }

    function opTimes(item, op) {
      [["op-started", op.started_at], ["op-finished", op.finished_at]].forEach(function (pair) {
        var slot = item.querySelector('[data-field="' + pair[0] + '"]');
        if (!slot) { return; }
        if (!pair[1]) { slot.textContent = "\u2014"; return; }
        var time = document.createElement("time");
        time.setAttribute("datetime", pair[1]);
        time.setAttribute("data-local", "ms");
        slot.replaceChildren(time);
        localTimes.rewrite(slot);
      });
    }

    /* An op's buttons follow its status: stop while it is active, retry once it ended. */
    function opButtons(item, op) {
      if (readonly) { return; }
      var active = activeOp.indexOf(op.status) >= 0;
      var retry = item.querySelector('[data-action="op-retry"]'), stopButton = item.querySelector('[data-action="op-stop"]');
      if (retry && !retry.classList.contains("busy")) { retry.disabled = active; }
      if (stopButton && !stopButton.classList.contains("busy")) { stopButton.disabled = !active; }
    }

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
      return iso ? localTimes.text(new Date(iso), "time") : "\u2014";
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
                       localTimes.text(new Date(record.created_at), "full")];
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

    /* `reload`: after an op's button, reload once the run is (or stays) idle, for its attempts and history. */
    function start(reload) {
      if (reload) { reloadWhenIdle = true; }
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
    var STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

    function duration(seconds) {
      seconds = Math.max(seconds, 0);
      if (seconds > 0 && seconds < 0.1) { return Math.round(seconds * 1000) + "ms"; }
      if (seconds < 10 && seconds !== Math.floor(seconds)) {
        return seconds.toFixed(2).replace(/0+$/, "").replace(/\.$/, "") + "s";
      }
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
      if (!run.started_at) { return; }  // a bar is the attempt's own time: from its start
      if (!bar) {
        bar = document.createElement("span");
        bar.className = "gantt-bar";
        bar.setAttribute("data-op", run.name);
        bar.setAttribute("data-attempt", run.attempt);
        bar.setAttribute("data-end", "");
        row.appendChild(bar);
        var empty = document.getElementById("gantt-empty");
        if (empty) { empty.remove(); }
      }
      bar.setAttribute("data-start", run.started_at);
      setStatus(bar, run.status === "retrying" ? "failed" : run.status);
      if (run.finished_at) {
        bar.setAttribute("data-end", run.finished_at);
      } else if (!active || run.status === "retrying") {
        bar.setAttribute("data-end", bar.getAttribute("data-end") || run.updated_at);
      }
      bar.title = run.name + " \u00b7 attempt " + run.attempt + " \u00b7 " + label(run.status);
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
      var span = Math.max((end - start) / 1000, 0.001);
      bars.forEach(function (b) {
        var s = (Date.parse(b.getAttribute("data-start")) - start) / 1000;
        var e = ((b.getAttribute("data-end") ? Date.parse(b.getAttribute("data-end")) : now) - start) / 1000;
        b.style.left = (100 * s / span) + "%";
        b.style.width = Math.max(100 * (e - s) / span, 0) + "%";
      });
      var step = STEPS.filter(function (s) { return span / s <= 6; })[0] || 86400 * Math.ceil(span / 86400 / 6);
      var ticks = document.getElementById("gantt-ticks");
      ticks.textContent = "";
      for (var index = 0; index * step <= span + 1e-9; index++) {
        var at = index * step;
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
