// The MinimalAgent trace viewer.
//
// Everything shown comes from the session store and is untrusted (tool results above all): the
// DOM is built with createElement and text nodes only — never innerHTML, never HTML strings —
// and the server's Content-Security-Policy allows no inline script. Links are built from
// session and run ids, which the server has validated, and always start with "#/".
"use strict";

(() => {
  const app = document.getElementById("app");
  const crumbs = document.getElementById("crumbs");
  const connection = document.getElementById("connection");
  const storeLabel = document.getElementById("store");
  const dialog = document.getElementById("confirm-delete");

  let config = { allow_delete: false, allow_approvals: false, store: "" };
  // The per-start token that lets this page answer held tool calls: the server puts it in the
  // page's HTML (a <meta> element) only when started with --allow-approvals, and checks it on
  // every decision. Nothing else on the page or in the API carries it.
  const approvalToken = (() => {
    const meta = document.querySelector('meta[name="minimalagent-approval-token"]');
    return meta ? meta.getAttribute("content") : null;
  })();
  const canAnswer = () => Boolean(config.allow_approvals && approvalToken);
  // What the current view holds open: an EventSource, timers.
  let cleanups = [];
  // Bumped on every navigation, so that answers for a page left behind are dropped.
  let generation = 0;

  // ------------------------------------------------------------------ DOM helpers

  // h("div", {class: "x", dataset: {a: 1}}, "text", child, [more]) — text is always text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "dataset") {
        for (const [name, data] of Object.entries(value)) el.dataset[name] = String(data);
      } else if (key === "onclick") el.addEventListener("click", value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function replace(el, ...children) {
    el.replaceChildren();
    append(el, children);
  }

  function link(href, ...children) {
    return h("a", { href }, ...children);
  }

  function sessionHref(id) {
    return "#/sessions/" + encodeURIComponent(id);
  }

  function runHref(id, runId) {
    return sessionHref(id) + "/runs/" + encodeURIComponent(runId);
  }

  // A run record the store could not read stands in for the run with the nil id, its status
  // "damaged" and an error naming the record and why: it has no page of its own (several may
  // share the id), and is told from another damaged run by that error.
  const NIL_RUN_ID = "00000000-0000-0000-0000-000000000000";

  function isDamaged(run) {
    return run.status === "damaged";
  }

  function sameRun(a, b) {
    if (a.run_id !== b.run_id) return false;
    if (a.run_id !== NIL_RUN_ID) return true;
    const why = (run) => (run.error ? run.error.message : "");
    return why(a) === why(b);
  }

  function runLink(sessionId, run, label) {
    return isDamaged(run) && run.run_id === NIL_RUN_ID ? h("span", { class: "run-label" }, label) : link(runHref(sessionId, run.run_id), label);
  }

  function damagedText(run) {
    return "This run's record in the store cannot be read: " + (run.error ? run.error.message : "no detail");
  }

  // Session ids as the store checks them: anything else from the state is shown, not linked.
  function isSessionId(id) {
    return typeof id === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(id);
  }

  function sessionRef(id) {
    return isSessionId(id) ? link(sessionHref(id), id) : h("code", null, String(id));
  }

  function cutText(point) {
    return "after run " + point.run + (point.step ? " step " + point.step : "");
  }

  // Where a session was forked from, and its forks (the server reads them from its state).
  function forkView(fork) {
    const origin = fork && fork.origin;
    const children = (fork && Array.isArray(fork.children)) ? fork.children : [];
    if (!origin && !children.length) return null;
    return h("div", { class: "forks" },
      origin ? h("p", { class: "fork-origin", dataset: { session: String(origin.session) } },
        "Forked from ", sessionRef(origin.session), " " + cutText(origin),
        origin.forked_at ? h("span", { class: "meta" }, " · " + time(origin.forked_at)) : null) : null,
      children.length ? h("p", { class: "fork-children" }, "Forks: ",
        children.map((child, i) => [i > 0 ? ", " : null,
          h("span", { class: "fork-child", dataset: { session: String(child.session) } }, sessionRef(child.session), " (" + cutText(child) + ")")])) : null);
  }

  // ------------------------------------------------------------------ formatting

  function time(at) {
    if (!at) return "";
    const date = new Date(at);
    if (Number.isNaN(date.getTime())) return String(at);
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function millis(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
    if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
    const minutes = Math.floor(ms / 60000);
    const seconds = Math.floor((ms % 60000) / 1000);
    return minutes + " min " + String(seconds).padStart(2, "0") + " s";
  }

  function between(start, end) {
    if (!start || !end) return null;
    return new Date(end).getTime() - new Date(start).getTime();
  }

  function usage(u) {
    if (!u) return "";
    let text = (u.input_tokens || 0) + " in / " + (u.output_tokens || 0) + " out";
    if (u.cache_read_input_tokens) text += " / " + u.cache_read_input_tokens + " cache read";
    if (u.cache_write_input_tokens) text += " / " + u.cache_write_input_tokens + " cache write";
    return text;
  }

  // A value as text: strings as they are, anything else as JSON — on one line when short,
  // indented otherwise.
  function valueText(value) {
    if (typeof value === "string") return value;
    if (value === undefined) return "";
    try {
      // JSON.stringify escapes newlines in strings, so every newline here is layout.
      const compact = JSON.stringify(value, null, 1).replace(/\n */g, " ");
      return compact.length <= 72 ? compact : JSON.stringify(value, null, 2);
    } catch (_) {
      return String(value);
    }
  }

  function plural(n, word, many) {
    return n + " " + (n === 1 ? word : many || word + "s");
  }

  function statusBadge(status) {
    const name = typeof status === "string" ? status : "unknown";
    return h("span", { class: "status status-" + name.replace(/[^a-z_]/g, ""), dataset: { status: name } }, name);
  }

  function runDuration(run) {
    if (run.started_at && run.ended_at) return millis(between(run.started_at, run.ended_at));
    if (run.status === "running" && run.started_at) {
      return "running for " + millis(Date.now() - new Date(run.started_at).getTime());
    }
    return "";
  }

  // ------------------------------------------------------------------ data

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, options || {}));
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && typeof body.error === "string" ? body.error : response.status + " " + response.statusText;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  function setConnection(state, title) {
    connection.dataset.state = state;
    connection.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", idle: "" }[state] || state;
    connection.title = title || "";
  }

  // Follows a session: calls onRun(update) for every server-sent run update.
  function followSession(id, onRun) {
    const source = new EventSource("/api/sessions/" + encodeURIComponent(id) + "/events");
    setConnection("connecting");
    source.addEventListener("open", () => setConnection("live", "Updating as the runs of this session progress"));
    source.addEventListener("error", () => setConnection("reconnecting"));
    source.addEventListener("run", (message) => {
      let update;
      try {
        update = JSON.parse(message.data);
      } catch (_) {
        return;
      }
      onRun(update);
    });
    source.addEventListener("store-error", (message) => {
      let detail = "";
      try {
        detail = JSON.parse(message.data).message;
      } catch (_) {
        detail = "";
      }
      setConnection("reconnecting", "The store failed: " + detail);
    });
    const close = () => {
      source.close();
      setConnection("idle");
    };
    cleanups.push(close);
    return close;
  }

  function every(ms, fn) {
    const timer = setInterval(fn, ms);
    cleanups.push(() => clearInterval(timer));
  }

  // ------------------------------------------------------------------ navigation

  function setCrumbs(...items) {
    replace(crumbs, items.map((item, i) => [i > 0 ? h("span", { class: "sep" }, "/") : null, item]));
  }

  function showError(error) {
    replace(app, h("div", { class: "notice error", role: "alert" }, error.message || String(error)));
  }

  function route() {
    for (const cleanup of cleanups) cleanup();
    cleanups = [];
    generation += 1;
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map((part) => {
      try {
        return decodeURIComponent(part);
      } catch (_) {
        return part;
      }
    });
    window.scrollTo(0, 0);
    if (parts[0] === "sessions" && parts[1] && parts[2] === "runs" && parts[3]) {
      showRun(parts[1], parts[3]);
    } else if (parts[0] === "sessions" && parts[1]) {
      showSession(parts[1]);
    } else {
      showList();
    }
  }

  // ------------------------------------------------------------------ the list of sessions

  function waitingBadge(count) {
    return count ? h("span", { class: "waiting-badge", dataset: { waiting: count } }, plural(count, "call") + " waiting") : null;
  }

  function runRow(sessionId, run, index) {
    // The summaries' error is one string ("kind: message").
    const query = isDamaged(run) ? (run.error || "store.damaged_record") : run.query;
    return h("li", { class: "run-row", dataset: { runId: run.run_id, status: run.status } },
      h("span", { class: "run-status" }, statusBadge(run.status), waitingBadge(run.pending_decisions || 0)),
      runLink(sessionId, run, "Run " + (index + 1)),
      h("span", { class: "query", title: query }, query),
      h("span", { class: "meta" },
        [time(run.started_at), runDuration(run), plural(run.total_steps || 0, "step"), plural(run.tool_calls || 0, "tool call")]
          .filter(Boolean).join(" · ")));
  }

  function sessionCard(session) {
    const runs = session.run_list || (session.latest_run ? [session.latest_run] : []);
    const waiting = runs.reduce((n, run) => n + (run.pending_decisions || 0), 0);
    return h("article", { class: "session-card", dataset: { sessionId: session.id } },
      h("header", null,
        h("h2", null, link(sessionHref(session.id), session.id)),
        waitingBadge(waiting),
        h("span", { class: "meta" },
          plural(session.runs || 0, "run") + " · " + plural(session.entries || 0, "entry", "entries") +
          (session.expires_at ? " · expires " + time(session.expires_at) : ""))),
      runs.length
        ? h("ol", { class: "run-rows" }, runs.map((run, i) => runRow(session.id, run, i)))
        : h("p", { class: "empty" }, "No runs."));
  }

  async function showList() {
    const mine = generation;
    setCrumbs(h("span", null, "Sessions"));
    const list = h("div", { class: "session-list" });
    const more = h("div", { class: "more" });
    replace(app, h("h1", null, "Sessions"), list, more);
    let shown = [];
    let next = null;

    const render = () => {
      replace(list, shown.length ? shown.map(sessionCard) : h("p", { class: "empty" }, "No sessions in this store yet."));
      replace(more, next ? h("button", { type: "button", onclick: loadMore }, "More sessions") : null);
    };

    async function load(after) {
      const query = after ? "?after=" + encodeURIComponent(after) : "";
      return api("/api/sessions" + query);
    }

    async function loadMore() {
      try {
        const page = await load(next);
        if (mine !== generation) return;
        shown = shown.concat(page.sessions);
        next = page.next;
        render();
      } catch (error) {
        showError(error);
      }
    }

    try {
      const page = await load(null);
      if (mine !== generation) return;
      shown = page.sessions;
      next = page.next;
      render();
    } catch (error) {
      if (mine === generation) showError(error);
      return;
    }
    // The first page follows new sessions and runs without a reload.
    every(5000, async () => {
      try {
        const page = await load(null);
        if (mine !== generation) return;
        const ids = new Set(page.sessions.map((s) => s.id));
        const fresh = page.sessions.concat(shown.filter((s) => !ids.has(s.id) && shown.indexOf(s) >= page.sessions.length));
        if (JSON.stringify(fresh) === JSON.stringify(shown)) return;
        shown = fresh;
        if (!next) next = page.next;
        render();
      } catch (_) {
        // Keep what is shown; the next refresh tries again.
      }
    });
  }

  // ------------------------------------------------------------------ a session

  function messageBlocks(message) {
    const blocks = [];
    for (const block of message.content || []) {
      if (typeof block.text === "string") {
        blocks.push(h("div", { class: "block text" }, block.text));
      } else if (block.toolUse) {
        const use = block.toolUse;
        blocks.push(h("div", { class: "block tool-use" },
          h("span", { class: "label" }, "Tool call "), h("span", { class: "tool-name" }, use.name), " ",
          h("code", { class: "tool-id" }, use.toolUseId),
          h("pre", { class: "json" }, valueText(use.input))));
      } else if (block.toolResult) {
        const result = block.toolResult;
        const failed = result.status === "error";
        blocks.push(h("div", { class: "block tool-result-block" + (failed ? " failed" : "") },
          h("span", { class: "label" }, failed ? "Tool error " : "Tool result "),
          h("code", { class: "tool-id" }, result.toolUseId),
          (result.content || []).map((content) => {
            if (content.json !== undefined) return h("pre", { class: "json" }, valueText(content.json));
            if (typeof content.text === "string") return h("pre", { class: "json" }, content.text);
            if (content.image) return h("span", { class: "media" }, "[image " + (content.image.format || "") + "]");
            if (content.document) return h("span", { class: "media" }, "[document " + (content.document.name || "") + "]");
            return h("pre", { class: "json" }, valueText(content));
          })));
      } else if (block.reasoningContent) {
        const reasoning = block.reasoningContent;
        const text = reasoning.reasoningText ? reasoning.reasoningText.text : "[redacted thinking]";
        blocks.push(h("div", { class: "block thinking" }, h("span", { class: "label" }, "Thinking"), h("div", { class: "text" }, text)));
      } else if (block.image) {
        blocks.push(h("div", { class: "block media" }, "[image " + (block.image.format || "") + "]"));
      } else if (block.document) {
        blocks.push(h("div", { class: "block media" }, "[document " + (block.document.name || "") + " " + (block.document.format || "") + "]"));
      } else if (block.cachePoint) {
        // Not content.
      } else {
        blocks.push(h("pre", { class: "block json" }, valueText(block)));
      }
    }
    return blocks;
  }

  function conversationView(entries) {
    if (!entries.length) return h("p", { class: "empty" }, "No conversation entries: no run of this session has committed yet.");
    return h("ol", { class: "conversation" }, entries.map((entry) => {
      const body = entry.body || {};
      if (body.type === "summary") {
        return h("li", { class: "entry summary", dataset: { seq: entry.seq } },
          h("div", { class: "entry-head" }, "#" + entry.seq + " summary of #" + body.through_seq + " and before (" + plural(body.messages || 0, "message") + ")"),
          h("div", { class: "text" }, body.text || ""));
      }
      if (body.type !== "turn") {
        return h("li", { class: "entry", dataset: { seq: entry.seq } }, "#" + entry.seq + " (an entry this version does not show)");
      }
      return h("li", { class: "entry turn", dataset: { seq: entry.seq } },
        h("div", { class: "entry-head" }, "#" + entry.seq + " turn" + (entry.written_at ? " · " + time(entry.written_at) : "")),
        (body.messages || []).map((message) => h("div", { class: "message role-" + (message.role === "assistant" ? "assistant" : "user") },
          h("div", { class: "role" }, message.role === "assistant" ? "assistant" : "user"),
          h("div", { class: "blocks" }, messageBlocks(message)))));
    }));
  }

  function runCard(sessionId, run, index, live) {
    const toolCalls = (run.steps || []).reduce((n, step) => n + (step.tools || []).length, 0);
    const running = (run.steps || []).flatMap((step) => step.tools || []).filter((tool) => tool.status === "running");
    let now = null;
    if (run.status === "running") {
      if (running.length) now = "running " + running.map((tool) => tool.name).join(", ");
      else if (live && live.tools && live.tools.length) now = "calling " + live.tools.map((tool) => tool.name).join(", ");
      else if (live && (live.text || live.thinking)) now = "writing…";
      else now = "waiting for the model…";
    } else if (run.status === "paused") {
      const held = (run.pending_interrupts || []).length;
      now = held
        ? "waiting for a decision on " + plural(held, "call")
        : "every held call is decided: waiting for the agent to go on";
    }
    if (isDamaged(run)) {
      return h("li", { class: "run-card", dataset: { runId: run.run_id, status: run.status } },
        h("div", { class: "run-card-head" }, statusBadge(run.status), runLink(sessionId, run, "Run " + (index + 1))),
        h("div", { class: "run-error" }, damagedText(run)));
    }
    return h("li", { class: "run-card", dataset: { runId: run.run_id, status: run.status } },
      h("div", { class: "run-card-head" },
        statusBadge(run.status),
        link(runHref(sessionId, run.run_id), "Run " + (index + 1)),
        h("span", { class: "meta" },
          time(run.started_at) ? time(run.started_at) + " · " : "",
          h("span", { class: "run-duration" }, runDuration(run)),
          " · " + [plural(run.total_steps || 0, "step"), plural(toolCalls, "tool call"), "tokens " + usage(run.usage)].join(" · "))),
      h("div", { class: "query" }, run.query),
      now ? h("div", { class: "now" }, now) : null,
      run.final_response ? h("div", { class: "answer" }, run.final_response) : null,
      run.error ? h("div", { class: "run-error" }, run.error.kind + ": " + run.error.message) : null);
  }

  // ------------------------------------------------------------------ approvals

  function expiry(interrupt) {
    if (!interrupt.expires_at) return "never expires";
    const at = new Date(interrupt.expires_at).getTime();
    return (Number.isFinite(at) && at <= Date.now() ? "expired " : "expires ") + time(interrupt.expires_at);
  }

  function decisionText(decision) {
    if (!decision || typeof decision.decision !== "string") return "recorded";
    switch (decision.decision) {
      case "approve": return "approve";
      case "approve_always": return decision.this_input_only ? "approve always (this input only)" : "approve always";
      case "approve_with_input": return "approve with input " + valueText(decision.input);
      case "deny": return "deny: " + (decision.message || "");
      case "answer": return "answer " + valueText(decision.output);
      case "expired": return "expired (nobody decided in time: denied)";
      default: return decision.decision;
    }
  }

  // Sends one decision; resolves with the server's answer (what was recorded, what still waits).
  function sendDecision(sessionId, interruptId, decision) {
    const decisions = {};
    decisions[interruptId] = decision;
    return api("/api/sessions/" + encodeURIComponent(sessionId) + "/decisions", {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-Approval-Token": approvalToken },
      body: JSON.stringify({ decisions }),
    });
  }

  // The held calls of a session's runs, and what the page decided on them. update(items) takes
  // [{run, number}] and re-renders only when what waits changed, so that a message being typed
  // survives live updates.
  function approvalsPanel(sessionId) {
    const el = h("section", { class: "approvals", id: "approvals", hidden: true });
    // Interrupt id -> what the page recorded (or is sending) on it.
    const decided = new Map();
    let key = null;
    let items = [];

    function answerForm(interrupt) {
      const original = JSON.stringify(interrupt.input);
      const input = h("textarea", { class: "edit-input", rows: 4, spellcheck: "false", "aria-label": "Input to run the call with" });
      input.value = JSON.stringify(interrupt.input, null, 2);
      const message = h("input", { type: "text", class: "deny-message", placeholder: "Why (the model is told)", "aria-label": "Message for the model when denying" });
      const problem = h("p", { class: "error decision-error", role: "alert", hidden: true });
      const buttons = [];
      const fail = (text) => {
        problem.textContent = text;
        problem.hidden = false;
        for (const button of buttons) button.disabled = false;
      };
      const send = async (decision) => {
        problem.hidden = true;
        for (const button of buttons) button.disabled = true;
        try {
          const answer = await sendDecision(sessionId, interrupt.id, decision);
          const recorded = answer.recorded && answer.recorded[interrupt.id];
          decided.set(interrupt.id, { text: decisionText(recorded || decision), ready: answer.ready_to_continue, run: answer.run });
          render(true);
        } catch (error) {
          fail(error.message);
        }
      };
      const approve = h("button", { type: "button", class: "approve", onclick: () => {
        let edited;
        try {
          edited = JSON.parse(input.value);
        } catch (error) {
          fail("The edited input is not JSON: " + error.message);
          return;
        }
        send(JSON.stringify(edited) === original ? { decision: "approve" } : { decision: "approve_with_input", input: edited });
      } }, "Approve");
      const deny = h("button", { type: "button", class: "deny danger", onclick: () => {
        send({ decision: "deny", message: message.value.trim() || "A person denied this call." });
      } }, "Deny");
      buttons.push(approve, deny);
      return h("div", { class: "answer-form" },
        h("details", { class: "edit" }, h("summary", null, "Edit the input before approving"), input),
        h("div", { class: "answer-row" }, approve, message, deny),
        problem);
    }

    function pendingCall(item) {
      const { run, number, interrupt } = item;
      const done = decided.get(interrupt.id);
      return h("li", { class: "pending-call", dataset: { interruptId: interrupt.id, runId: run.run_id, decided: done ? "true" : "false" } },
        h("div", { class: "pending-head" },
          h("span", { class: "tool-name" }, interrupt.tool),
          h("code", { class: "tool-id" }, interrupt.id),
          statusBadge(done ? "decided" : "waiting"),
          link(runHref(sessionId, run.run_id), "Run " + number),
          h("span", { class: "meta" }, expiry(interrupt))),
        h("div", { class: "pending-reason" }, interrupt.reason),
        h("div", { class: "io" }, h("span", { class: "label" }, "Input"), h("pre", { class: "pending-input" }, valueText(interrupt.input))),
        done
          ? h("p", { class: "decision-recorded" }, "Recorded: " + done.text + ".")
          : canAnswer() ? answerForm(interrupt) : null);
    }

    function render(force) {
      const waiting = [];
      for (const { run, number } of items) {
        for (const interrupt of run.pending_interrupts || []) waiting.push({ run, number, interrupt });
      }
      const ready = items.filter(({ run }) => run.status === "paused" && !(run.pending_interrupts || []).length);
      const next = JSON.stringify([waiting.map((w) => [w.run.run_id, w.interrupt.id]), ready.map((r) => r.run.run_id)]);
      if (next === key && !force) return;
      key = next;
      if (!waiting.length && !ready.length) {
        el.hidden = true;
        el.replaceChildren();
        return;
      }
      el.hidden = false;
      replace(el,
        h("h2", null, "Waiting for a decision"),
        canAnswer()
          ? h("p", { class: "note" }, "Approving or denying records the decision in the store; it runs nothing. The run goes on when a process running the agent calls Agent::respond(session, Decisions::new()).")
          : h("p", { class: "note read-only" }, "Read-only. Answer with ", h("code", null, "minimalagent sessions approve " + sessionId + " ID"), " or ", h("code", null, "… deny " + sessionId + " ID --message TEXT"), ", or start the viewer with ", h("code", null, "--allow-approvals"), " to answer here."),
        waiting.length ? h("ol", { class: "pending-list" }, waiting.map(pendingCall)) : null,
        ready.map(({ run, number }) => h("p", { class: "ready", dataset: { runId: run.run_id } },
          h("strong", null, "Run " + number + ": every held call is decided. "),
          "It goes on when a process running the agent calls Agent::respond(session, Decisions::new()).")));
    }

    return {
      el,
      update(next) {
        items = next;
        render(false);
      },
    };
  }

  async function showSession(id) {
    const mine = generation;
    setCrumbs(link("#/", "Sessions"), h("span", null, id));
    replace(app, h("p", { class: "empty" }, "Loading session…"));
    let data;
    try {
      data = await api("/api/sessions/" + encodeURIComponent(id));
    } catch (error) {
      if (error.status !== 404) {
        if (mine === generation) showError(error);
        return;
      }
      // Not (or no longer) in the store: show it empty, and follow it for its first run.
      data = { id, head: null, conversation: [], runs: [] };
    }
    if (mine !== generation) return;
    const runs = data.runs.slice();
    const lives = new Map();
    const runList = h("ol", { class: "run-cards" });
    const conversation = h("div", null, conversationView(data.conversation));
    const meta = h("p", { class: "meta" });
    const forks = h("div", null);
    const actions = h("div", { class: "actions" });
    const approvals = approvalsPanel(id);
    if (config.allow_delete) {
      actions.append(h("button", { type: "button", id: "delete-session", class: "danger", onclick: () => confirmDelete(id) }, "Delete session…"));
    }
    const render = () => {
      replace(meta, plural(runs.length, "run") + " · " + plural(data.conversation.length, "entry", "entries") +
        (data.head && data.head.expires_at ? " · expires " + time(data.head.expires_at) : ""));
      replace(forks, forkView(data.fork));
      replace(runList, runs.length
        ? runs.map((run, i) => runCard(id, run, i, lives.get(run.run_id)))
        : h("p", { class: "empty" }, "This session has no runs in the store (yet): its runs appear here as they start."));
      approvals.update(runs.map((run, i) => ({ run, number: i + 1 })));
    };
    replace(app,
      h("div", { class: "title-row" }, h("h1", null, "Session ", h("code", null, id)), actions),
      meta,
      forks,
      approvals.el,
      h("h2", null, "Runs"), runList,
      h("h2", null, "Conversation"), conversation);
    render();
    let refetch = null;
    followSession(id, (update) => {
      if (mine !== generation) return;
      const at = runs.findIndex((run) => sameRun(run, update.reasoning));
      const before = at >= 0 ? runs[at].status : null;
      if (at >= 0) runs[at] = update.reasoning;
      else runs.push(update.reasoning);
      lives.set(update.run_id, update.live);
      render();
      // A run that ended may have added a turn to the conversation.
      if (update.reasoning.status !== "running" && before !== update.reasoning.status) {
        clearTimeout(refetch);
        refetch = setTimeout(async () => {
          try {
            const fresh = await api("/api/sessions/" + encodeURIComponent(id));
            if (mine !== generation) return;
            data.conversation = fresh.conversation;
            data.head = fresh.head;
            data.fork = fresh.fork;
            replace(conversation, conversationView(fresh.conversation));
            render();
          } catch (_) {
            // The live view stays; the conversation updates on the next run.
          }
        }, 300);
      }
    });
    // Running runs' durations tick without re-rendering anything else.
    every(1000, () => {
      for (const run of runs) {
        if (run.status !== "running") continue;
        const card = Array.from(runList.querySelectorAll(".run-card")).find((c) => c.dataset.runId === run.run_id);
        const duration = card && card.querySelector(".run-duration");
        if (duration) duration.textContent = runDuration(run);
      }
    });
  }

  // ------------------------------------------------------------------ a run

  // Where a call that has not run stands with a person's decision: "waiting", "decided", or null.
  function holdOf(run, tool) {
    if (tool.status !== "running") return null;
    if ((run.pending_interrupts || []).some((held) => held.id === tool.tool_use_id)) return "waiting";
    if ((run.answered_interrupts || []).some((answered) => answered.interrupt && answered.interrupt.id === tool.tool_use_id)) return "decided";
    return null;
  }

  function toolCall(tool, hold) {
    const status = hold || tool.status || "succeeded";
    return h("div", { class: "tool-call", dataset: { toolUseId: tool.tool_use_id || "", toolStatus: status } },
      h("div", { class: "tool-head" },
        h("span", { class: "tool-name" }, tool.name),
        h("code", { class: "tool-id" }, tool.tool_use_id || ""),
        statusBadge(status === "succeeded" ? "succeeded" : status),
        tool.duration_ms !== undefined && tool.duration_ms !== null ? h("span", { class: "duration" }, millis(tool.duration_ms)) : null),
      h("div", { class: "io-pair" },
        h("div", { class: "io" }, h("span", { class: "label" }, "Input"), h("pre", { class: "tool-input" }, valueText(tool.inputs))),
        tool.result !== null && tool.result !== undefined
          ? h("div", { class: "io" }, h("span", { class: "label" }, "Result"), h("pre", { class: "tool-result" }, valueText(tool.result)))
          : null,
        tool.error
          ? h("div", { class: "io failed" }, h("span", { class: "label" }, "Error"), h("pre", { class: "tool-error" }, tool.error.kind + ": " + tool.error.message))
          : null,
        status === "running" ? h("div", { class: "io pending" }, h("span", { class: "label" }, "Result"), h("div", null, "Running…")) : null,
        status === "waiting" ? h("div", { class: "io pending" }, h("span", { class: "label" }, "Result"), h("div", null, "Waiting for a person's decision…")) : null,
        status === "decided" ? h("div", { class: "io pending" }, h("span", { class: "label" }, "Result"), h("div", null, "Decided; waiting for the run to go on…")) : null));
  }

  function pendingTool(tool) {
    return h("div", { class: "tool-call pending", dataset: { toolUseId: tool.tool_use_id, toolStatus: "pending" } },
      h("div", { class: "tool-head" }, h("span", { class: "tool-name" }, tool.name), h("code", { class: "tool-id" }, tool.tool_use_id), statusBadge("requested")),
      tool.input !== null && tool.input !== undefined
        ? h("div", { class: "io" }, h("span", { class: "label" }, "Input"), h("pre", { class: "tool-input" }, valueText(tool.input)))
        : h("div", { class: "io pending" }, "The model is writing the input…"),
      tool.input_error ? h("div", { class: "io failed" }, h("span", { class: "label" }, "Bad input"), h("pre", { class: "tool-error" }, tool.input_error)) : null);
  }

  function timeline(run, live) {
    const items = [];
    items.push(h("li", { class: "event query-event" }, h("div", { class: "event-head" }, "Query", h("span", { class: "meta" }, time(run.started_at))), h("div", { class: "text" }, run.query)));
    for (const step of run.steps || []) {
      const offset = between(run.started_at, step.timestamp);
      items.push(h("li", { class: "event step", dataset: { step: step.step_number } },
        h("div", { class: "event-head" }, "Step " + step.step_number,
          h("span", { class: "meta" }, [offset !== null ? "+" + millis(offset) : "", "tokens " + usage(step.usage)].filter(Boolean).join(" · "))),
        step.thinking ? h("div", { class: "thinking" }, h("span", { class: "label" }, "Thinking"), h("div", { class: "text" }, step.thinking)) : null,
        (step.tools || []).map((tool) => toolCall(tool, holdOf(run, tool)))));
    }
    if (live && run.status === "running" && (live.text || live.thinking || (live.tools && live.tools.length))) {
      items.push(h("li", { class: "event step live", dataset: { step: live.step } },
        h("div", { class: "event-head" }, "Step " + live.step, h("span", { class: "meta" }, "the model is writing…")),
        live.thinking ? h("div", { class: "thinking" }, h("span", { class: "label" }, "Thinking"), h("div", { class: "text" }, live.thinking)) : null,
        live.text ? h("div", { class: "streaming" }, h("div", { class: "text" }, live.text)) : null,
        (live.tools || []).map(pendingTool)));
    } else if (run.status === "running") {
      const steps = run.steps || [];
      const last = steps.length ? steps[steps.length - 1] : null;
      const toolsRunning = last && (last.tools || []).some((tool) => tool.status === "running");
      if (!toolsRunning) items.push(h("li", { class: "event waiting" }, "Waiting for the model…"));
    }
    if ((run.answered_interrupts || []).length) {
      items.push(h("li", { class: "event decisions" }, h("div", { class: "event-head" }, "Decisions"),
        h("ul", null, run.answered_interrupts.map((answered) => h("li", { class: "decision", dataset: { interruptId: answered.interrupt.id, decision: answered.decision.decision } },
          h("span", { class: "tool-name" }, answered.interrupt.tool), " ", h("code", { class: "tool-id" }, answered.interrupt.id), " → ",
          decisionText(answered.decision), h("span", { class: "meta" }, " · " + time(answered.answered_at)))))));
    }
    if (run.step_limit_reached) {
      items.push(h("li", { class: "event warn" }, "The step limit was reached: the model was asked for its final answer."));
    }
    if (run.final_thinking) {
      items.push(h("li", { class: "event final-thinking" }, h("div", { class: "event-head" }, "Final thinking"), h("div", { class: "thinking" }, h("div", { class: "text" }, run.final_thinking))));
    }
    if (run.final_response !== null && run.final_response !== undefined) {
      items.push(h("li", { class: "event answer" }, h("div", { class: "event-head" }, "Answer"), h("div", { class: "text final-response" }, run.final_response)));
    }
    if (run.status !== "running" && run.status !== "paused") {
      const end = h("li", { class: "event run-end", dataset: { status: run.status } },
        h("div", { class: "event-head" }, statusBadge(run.status),
          h("span", { class: "meta" }, [run.ended_at ? time(run.ended_at) : "", runDuration(run)].filter(Boolean).join(" · "))));
      if (run.error) end.append(h("div", { class: "run-error" }, run.error.kind + ": " + run.error.message));
      items.push(end);
    }
    return h("ol", { class: "timeline" }, items);
  }

  function fact(name, value) {
    return h("div", { class: "fact" }, h("span", { class: "fact-name" }, name), h("span", { class: "fact-value" }, value));
  }

  function runView(sessionId, run, index, live, approvals) {
    const toolCalls = (run.steps || []).reduce((n, step) => n + (step.tools || []).length, 0);
    const header = h("div", { class: "run-header", dataset: { runId: run.run_id, status: run.status } },
      h("h1", null, "Run " + index + " ", statusBadge(run.status)),
      h("div", { class: "facts" },
        fact("Session", link(sessionHref(sessionId), sessionId)),
        fact("Started", time(run.started_at) || "—"),
        fact("Duration", h("span", { class: "run-duration" }, runDuration(run) || "—")),
        fact("Steps", String(run.total_steps || 0) + " (" + plural(toolCalls, "tool call") + ")"),
        fact("Tokens", h("span", { class: "run-usage" }, usage(run.usage))),
        run.stop_reason ? fact("Stop reason", String(run.stop_reason)) : null,
        fact("Run id", h("code", null, run.run_id))));
    const banners = [];
    if (run.status === "interrupted") {
      banners.push(h("div", { class: "banner banner-interrupted", role: "status" },
        h("strong", null, "Interrupted. "),
        "The process running this run stopped heart-beating before the run ended (it died, was killed or lost the network). An agent can continue it with Agent::resume.",
        run.error ? h("div", { class: "run-error" }, run.error.message) : null));
    } else if (run.status === "failed") {
      banners.push(h("div", { class: "banner banner-failed", role: "status" }, h("strong", null, "Failed. "), run.error ? run.error.kind + ": " + run.error.message : ""));
    } else if (run.status === "cancelled") {
      banners.push(h("div", { class: "banner banner-cancelled", role: "status" }, h("strong", null, "Cancelled. "), "The trace keeps what the run produced before it was cancelled."));
    } else if (run.status === "running") {
      banners.push(h("div", { class: "banner banner-running", role: "status" }, h("strong", null, "Running. "), "This page updates as the run progresses."));
    } else if (isDamaged(run)) {
      banners.push(h("div", { class: "banner banner-damaged", role: "status" }, h("strong", null, "Damaged. "), damagedText(run)));
    } else if (run.status === "paused") {
      const held = (run.pending_interrupts || []).length;
      banners.push(h("div", { class: "banner banner-paused", role: "status" }, h("strong", null, "Paused. "),
        held
          ? "The run waits for a person's decision on " + plural(held, "held tool call") + "; it costs nothing while it waits."
          : "Every held call is decided; the run goes on when a process running the agent calls Agent::respond(session, Decisions::new())."));
    }
    return [header, banners, approvals ? approvals.el : null, timeline(run, live)];
  }

  async function showRun(sessionId, runId) {
    const mine = generation;
    setCrumbs(link("#/", "Sessions"), link(sessionHref(sessionId), sessionId), h("span", null, "run"));
    replace(app, h("p", { class: "empty" }, "Loading run…"));
    let runs = [];
    try {
      runs = (await api("/api/sessions/" + encodeURIComponent(sessionId))).runs;
    } catch (error) {
      if (error.status !== 404) {
        if (mine === generation) showError(error);
        return;
      }
    }
    if (mine !== generation) return;
    let index = runs.findIndex((run) => run.run_id === runId);
    let run = index >= 0 ? runs[index] : null;
    let live = null;
    const approvals = approvalsPanel(sessionId);
    const render = () => {
      if (!run) {
        replace(app, h("p", { class: "empty" }, "Waiting for run " + runId + "…"));
        return;
      }
      approvals.update([{ run, number: index + 1 }]);
      replace(app, runView(sessionId, run, index + 1, live, approvals));
    };
    render();
    const close = followSession(sessionId, (update) => {
      if (mine !== generation) return;
      // Damaged runs share the nil id: told apart by their error (see sameRun).
      if (!runs.some((r) => sameRun(r, update.reasoning))) runs.push(update.reasoning);
      if (update.run_id !== runId) return;
      index = runs.findIndex((r) => r.run_id === runId);
      run = update.reasoning;
      live = update.live;
      render();
      // A paused run goes on after its decisions: keep following it.
      if (run.status !== "running" && run.status !== "paused") close();
    });
    every(1000, () => {
      if (run && run.status === "running") {
        const duration = app.querySelector(".run-duration");
        if (duration) duration.textContent = runDuration(run);
      }
    });
  }

  // ------------------------------------------------------------------ deleting

  function confirmDelete(id) {
    if (!config.allow_delete) return;
    const ok = document.getElementById("confirm-delete-ok");
    const cancel = document.getElementById("confirm-delete-cancel");
    const message = document.getElementById("confirm-delete-error");
    document.getElementById("confirm-delete-id").textContent = id;
    message.hidden = true;
    const onOk = async () => {
      ok.disabled = true;
      try {
        await api("/api/sessions/" + encodeURIComponent(id), { method: "DELETE", headers: { Accept: "application/json", "X-Minimalagent-Delete": id } });
        dialog.close();
        location.hash = "#/";
      } catch (error) {
        message.textContent = error.message;
        message.hidden = false;
      } finally {
        ok.disabled = false;
      }
    };
    const onCancel = () => dialog.close();
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("close", () => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
    }, { once: true });
    dialog.showModal();
  }

  // ------------------------------------------------------------------ start

  async function start() {
    try {
      config = await api("/api/config");
      storeLabel.textContent = config.store;
      const allowed = [config.allow_delete ? "deleting allowed" : null, canAnswer() ? "answering approvals allowed" : null].filter(Boolean);
      storeLabel.title = "The session store this viewer reads (" + (allowed.length ? allowed.join(", ") : "read-only") + ")";
    } catch (error) {
      showError(error);
      return;
    }
    window.addEventListener("hashchange", route);
    route();
  }

  start();
})();
