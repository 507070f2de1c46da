// codex-runtime web UI: a conversation list, a chat with streamed text, approval prompts and
// tool output. Everything the model or a command says is set with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  token: null,
  current: null,
  abort: null,
  lastId: 0,
  nodes: new Map(), // item id / request id -> element
};

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Takes the token from `#token=...` into sessionStorage and removes it from the address bar
// (and so from the history) at once.
function readToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("codex-runtime-token", decodeURIComponent(m[1]));
    const rest = location.hash
      .slice(1)
      .split("&")
      .filter((part) => part && !part.startsWith("token="))
      .join("&");
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
  return sessionStorage.getItem("codex-runtime-token");
}

// A refused HTTP request, with its status.
class HttpError extends Error {
  constructor(what, status) {
    super(what + ": " + status);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + ui.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try {
      const e = await res.json();
      message = e.error.message;
    } catch (_) {}
    throw new Error(message);
  }
  return res.status === 204 ? null : res.json();
}

function notice(text) {
  $("notice").textContent = text || "";
}

async function refreshSessions() {
  const list = await api("GET", "/api/sessions");
  const ul = $("sessions");
  ul.replaceChildren();
  for (const s of list.data) {
    const li = el("li", s.closed ? "closed" : "", s.name || "Conversation " + s.id.slice(0, 8));
    li.dataset.id = s.id;
    if (s.id === ui.current) li.classList.add("current");
    li.addEventListener("click", () => select(s.id));
    ul.appendChild(li);
  }
  return list.data;
}

function setStatus(text) {
  $("status").textContent = text;
}

function logNode() {
  return $("log");
}

function append(node) {
  const log = logNode();
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.appendChild(node);
  if (atBottom) log.scrollTop = log.scrollHeight;
  return node;
}

function agentNode(itemId) {
  let node = ui.nodes.get("agent:" + itemId);
  if (!node) {
    node = append(el("div", "msg agent"));
    node.dataset.item = itemId;
    ui.nodes.set("agent:" + itemId, node);
  }
  return node;
}

function toolNode(item) {
  let node = ui.nodes.get("tool:" + item.id);
  if (!node) {
    node = append(el("div", "tool " + item.type));
    node.dataset.item = item.id;
    node.appendChild(el("div", "head"));
    node.appendChild(el("pre", "out"));
    node.appendChild(el("div", "foot"));
    ui.nodes.set("tool:" + item.id, node);
  }
  return node;
}

function showCommand(item, completed) {
  const node = toolNode(item);
  node.querySelector(".head").textContent = "$ " + (item.command || "");
  if (completed) {
    node.querySelector(".out").textContent = item.aggregatedOutput || "";
    const code = item.exitCode === null || item.exitCode === undefined ? "" : " · exit " + item.exitCode;
    node.querySelector(".foot").textContent = (item.status || "") + code;
  } else {
    node.querySelector(".foot").textContent = "running…";
  }
}

function showFileChange(item, completed) {
  const node = toolNode(item);
  const paths = (item.changes || []).map((c) => c.path).join(", ");
  node.querySelector(".head").textContent = "file change: " + paths;
  node.querySelector(".out").textContent = (item.changes || []).map((c) => c.diff || "").join("\n");
  node.querySelector(".foot").textContent = completed ? item.status || "" : "applying…";
}

function handle(kind, data) {
  switch (kind) {
    case "turn.started":
      append(el("div", "msg user", data.prompt || ""));
      setStatus("running…");
      break;
    case "agent.delta":
      agentNode(data.item_id).textContent += data.delta;
      break;
    case "item.started":
    case "item.completed": {
      const item = data.item || {};
      const done = kind === "item.completed";
      if (item.type === "agentMessage" && done) agentNode(item.id).textContent = item.text || "";
      if (item.type === "commandExecution") showCommand(item, done);
      if (item.type === "fileChange") showFileChange(item, done);
      break;
    }
    case "command.output":
    case "file_change.output": {
      const type = kind === "command.output" ? "commandExecution" : "fileChange";
      const node = toolNode({ id: data.item_id, type });
      node.querySelector(".out").textContent += data.delta;
      if (!node.querySelector(".foot").textContent) node.querySelector(".foot").textContent = "running…";
      break;
    }
    case "approval.requested":
      showApproval(data);
      break;
    case "approval.resolved": {
      const node = ui.nodes.get("approval:" + data.request_id);
      if (node) resolveApproval(node, data.decision);
      break;
    }
    case "turn.completed": {
      const line = append(el("div", "turn-status", "turn " + data.status));
      if (data.status !== "completed") line.classList.add("failed");
      setStatus("");
      break;
    }
    case "turn.failed":
      append(el("div", "turn-status failed", "turn failed: " + data.error));
      setStatus("");
      break;
    case "session.closed":
      append(el("div", "turn-status", "conversation closed"));
      setComposer(false);
      break;
    default:
      break;
  }
}

function showApproval(data) {
  const box = append(el("div", "approval"));
  box.dataset.request = data.request_id;
  const what = data.kind === "command" ? "Run command: " + (data.command || "") : "Apply file change";
  if (data.kind === "command") {
    const tool = toolNode({ id: data.item_id, type: "commandExecution" });
    tool.querySelector(".head").textContent = "$ " + (data.command || "");
    tool.querySelector(".foot").textContent = "waiting for approval";
  }
  box.appendChild(el("div", "what", what));
  if (data.reason) box.appendChild(el("div", "reason", data.reason));
  const buttons = el("div", "buttons");
  for (const [label, decision] of [["Approve", "accept"], ["Decline", "decline"]]) {
    const b = el("button", "decide " + decision, label);
    b.dataset.decision = decision;
    b.type = "button";
    b.addEventListener("click", async () => {
      buttons.querySelectorAll("button").forEach((x) => (x.disabled = true));
      try {
        await api("POST", `/api/sessions/${ui.current}/approvals/${data.request_id}`, { decision });
      } catch (e) {
        notice(e.message);
      }
    });
    buttons.appendChild(b);
  }
  box.appendChild(buttons);
  ui.nodes.set("approval:" + data.request_id, box);
}

function resolveApproval(box, decision) {
  box.classList.add("resolved");
  const b = box.querySelector(".buttons");
  if (b) b.remove();
  box.appendChild(el("div", "decision", "answer: " + (typeof decision === "string" ? decision : JSON.stringify(decision))));
}

function setComposer(enabled) {
  $("prompt").disabled = !enabled;
  $("send").disabled = !enabled;
}

// Reads SSE from a fetch body: "id:", "event:", "data:" fields, events end at a blank line.
async function follow(sessionId, signal) {
  const headers = { Authorization: "Bearer " + ui.token };
  if (ui.lastId > 0) headers["Last-Event-ID"] = String(ui.lastId);
  const res = await fetch(`/api/sessions/${sessionId}/events`, { headers, signal });
  if (!res.ok) throw new HttpError("events", res.status);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, kind = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = val;
        else if (field === "event") kind = val;
        else if (field === "data") data += val;
      }
      if (!data) continue;
      if (id !== null) {
        const seq = Number(id);
        if (seq <= ui.lastId) continue;
        ui.lastId = seq;
      }
      handle(kind, JSON.parse(data));
    }
  }
}

async function select(id) {
  if (ui.abort) ui.abort.abort();
  ui.current = id;
  ui.lastId = 0;
  ui.nodes.clear();
  logNode().replaceChildren();
  history.replaceState(null, "", "#session=" + id);
  $("title").textContent = "Conversation " + id.slice(0, 8);
  setComposer(true);
  refreshSessions().catch((e) => notice(e.message));
  const abort = new AbortController();
  ui.abort = abort;
  // Reconnects back off (1 s, doubling, at most 30 s) and start at 1 s again once events flow.
  let delay = 1000;
  while (!abort.signal.aborted) {
    const before = ui.lastId;
    try {
      await follow(id, abort.signal);
      if (logNode().querySelector(".turn-status:last-child")?.textContent === "conversation closed") return;
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e.status === 410 && ui.lastId === 0) {
        // Even the start is gone (no store, and memory moved on): asking again cannot help.
        notice("this conversation's history is no longer available");
        return;
      } else if (e.status === 410) {
        // The resume point is gone: load the conversation again from its start, instead of
        // asking for the same events again.
        ui.lastId = 0;
        ui.nodes.clear();
        logNode().replaceChildren();
        notice("reloading the conversation… (" + e.message + ")");
      } else if (e.status >= 400 && e.status < 500 && e.status !== 429) {
        notice("cannot follow this conversation (" + e.message + ")");
        return;
      } else {
        notice("reconnecting… (" + e.message + ")");
      }
    }
    if (ui.lastId > before) delay = 1000;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30000);
  }
}

async function send(ev) {
  ev.preventDefault();
  const prompt = $("prompt").value;
  if (!prompt.trim() || !ui.current) return;
  $("send").disabled = true;
  try {
    await api("POST", `/api/sessions/${ui.current}/turns`, { prompt });
    $("prompt").value = "";
    notice("");
  } catch (e) {
    notice(e.message);
  } finally {
    $("send").disabled = false;
  }
}

async function start() {
  ui.token = readToken();
  if (!ui.token) {
    notice("No access token: open the URL that `codex-runtime serve` printed.");
    return;
  }
  $("new-session").addEventListener("click", async () => {
    try {
      const s = await api("POST", "/api/sessions", {});
      await select(s.id);
    } catch (e) {
      notice(e.message);
    }
  });
  $("composer").addEventListener("submit", send);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  try {
    const sessions = await refreshSessions();
    const m = /(?:^#|&)session=([0-9a-f]+)/.exec(location.hash);
    const wanted = m && sessions.find((s) => s.id === m[1]);
    if (wanted) select(wanted.id);
  } catch (e) {
    notice(e.message);
  }
}

start();
