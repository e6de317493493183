// The status page of wsd-scan-server: renders the state that /events sends (server-sent events).
// Plain JavaScript, no library. Every text from the service goes in with textContent, never as HTML:
// names come from PCs on the network.
"use strict";

const FORMAT_LABELS = { png: "PNG", jpeg: "JPEG", pdf: "PDF (every page)" };
let uptimeBase = null; // [uptime seconds, performance.now() when received]

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

function duration(s) {
  if (s === undefined || s === null) return "–";
  if (s < 10) return `${s.toFixed(1)} s`;
  s = Math.round(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

function origin() {
  return `${location.protocol}//${location.host}`;
}

// --- one scanner ----------------------------------------------------------------------------------

function section(scanner) {
  let node = document.getElementById(scanner.id);
  if (!node) {
    node = el("section", { id: scanner.id, class: "scanner" },
      el("div", { class: "head" }), el("div", { class: "conditions" }), el("div", { class: "job" }),
      el("h3", {}, "Scan"), el("div", { class: "scan" }), el("div", { class: "push" }),
      el("h3", {}, "Last jobs"), el("div", { class: "history" }),
      el("h3", {}, "PCs subscribed"), el("div", { class: "subscribers" }),
      el("h3", {}, "Add it by hand"), el("div", { class: "urls" }));
    document.getElementById("scanners").append(node);
  }
  return node;
}

function renderHead(box, s) {
  box.replaceChildren(
    el("div", {}, el("h2", {}, s.friendly_name),
      el("div", { class: "muted" }, `${s.vendor} ${s.model} · SANE ${s.name}`)),
    el("span", { class: `state ${s.state}`, "data-state": s.state }, s.state));
}

function renderConditions(box, s) {
  box.replaceChildren(...s.conditions.map((c) =>
    el("div", { class: `problem ${c.severity}`, "data-condition": c.name },
      el("strong", {}, `${c.name}${c.component ? " (" + c.component + ")" : ""}${c.since ? " since " + when(c.since) : ""}`),
      el("span", { class: "advice" }, c.advice))));
}

function renderJob(box, s) {
  const job = s.job;
  box.hidden = !job;
  if (!job) { box.replaceChildren(); return; }
  const pages = job.of ? `${job.pages} of ${job.of}` : `${job.pages}`;
  box.replaceChildren(
    el("div", {}, el("strong", {}, `Job ${job.id}: ${job.name}`), ` for ${job.user}`,
      job.source ? ` · ${job.source}, ${job.mode}, ${job.resolution} dpi` : ""),
    el("div", { class: "figures" },
      el("span", {}, "pages done ", el("b", { class: "job-pages" }, pages)),
      el("span", {}, "scanned ", el("b", { class: "job-bytes", "data-bytes": job.bytes }, bytes(job.bytes))),
      el("span", {}, "rate ", el("b", {}, job.rate !== undefined ? `${bytes(job.rate)}/s` : "–")),
      el("span", {}, "for ", el("b", {}, duration(job.elapsed))),
      el("span", { class: "muted" }, job.scanning ? "scanning…" : "sending…")));
}

function fill(select, values, labels, keep) {
  const current = keep ? select.value : null;
  select.replaceChildren(...values.map((v) => el("option", { value: v }, labels ? labels[v] || v : v)));
  if (current !== null && values.map(String).includes(current)) select.value = current;
}

function scanForm(s) {
  const o = s.options;
  const source = el("select", { name: "source" });
  const mode = el("select", { name: "mode" });
  const resolution = el("select", { name: "resolution" });
  const format = el("select", { name: "format" });
  const message = el("p", { class: "message", role: "status" });
  const update = () => {
    fill(mode, o.modes[source.value], null, true);
    fill(resolution, o.resolutions[source.value], null, true);
    if (!o.modes[source.value].includes(mode.value) || mode.value === "") mode.value = o.default_mode;
  };
  fill(source, o.sources);
  fill(format, o.formats, FORMAT_LABELS);
  source.addEventListener("change", update);
  update();
  if (o.resolutions[source.value].includes(o.default_resolution)) resolution.value = String(o.default_resolution);
  if (o.modes[source.value].includes(o.default_mode)) mode.value = o.default_mode;
  const form = el("form", { class: "scan", method: "post", action: "/scan", target: "download" },
    el("input", { type: "hidden", name: "scanner", value: s.id }),
    el("label", {}, "Source", source), el("label", {}, "Colour", mode),
    el("label", {}, "Resolution (dpi)", resolution), el("label", {}, "Format", format),
    el("button", { type: "submit" }, "Scan to this browser"), message);
  form.addEventListener("submit", () => {
    form.dataset.pending = "sent";
    message.className = "message";
    message.textContent = "Scanning… the file downloads as soon as the first page is ready.";
    document.getElementById("download").dataset.form = s.id;
  });
  return form;
}

function renderScan(box, s) {
  const key = JSON.stringify(s.options);
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.replaceChildren(scanForm(s));
  }
  // A download leaves no trace in the page: say so once the job the form started has ended.
  const form = box.querySelector("form.scan");
  const message = form.querySelector(".message");
  if (form.dataset.pending === "sent" && s.job) form.dataset.pending = "running";
  else if (form.dataset.pending === "running" && !s.job) {
    delete form.dataset.pending;
    const last = s.history[0];
    if (last && last.state === "Completed" && !message.classList.contains("error")) {
      message.textContent = `Job ${last.id} done: the file is in this browser's downloads.`;
    } else if (last && last.problem) {
      message.className = "message error";
      message.textContent = `Job ${last.id} ${last.state}: ${last.problem}. ${last.advice || ""}`;
    }
  }
}

function pushForm(s) {
  const destinations = s.subscribers.flatMap((sub) => sub.destinations.map((d) => ({ ...d, pc: sub.pc })));
  if (!s.push || destinations.length === 0) {
    return el("p", { class: "note" }, "Send to a PC: no PC has registered a scan destination yet " +
      "(Windows does once the scanner is installed in Settings › Bluetooth & devices).");
  }
  const choice = el("select", { name: "destination" },
    ...destinations.map((d) => el("option", { value: d.name }, `${d.name} (${d.pc})`)));
  const message = el("p", { class: "message", role: "status" });
  const form = el("form", { class: "push" }, el("label", {}, "Send a scan to", choice),
    el("button", { type: "submit" }, "Send to PC"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.className = "message";
    message.textContent = "Asking the PC…";
    try {
      const body = new URLSearchParams({ destination: choice.value });
      const answer = await fetch(`/scanners/${encodeURIComponent(s.id)}/push`, { method: "POST", body });
      const result = await answer.json();
      if (!answer.ok) throw new Error(result.error || answer.statusText);
      message.textContent = `Sent to ${result.pc}: the PC now scans (${result.destination}).`;
    } catch (error) {
      message.className = "message error";
      message.textContent = `Not sent: ${error.message}`;
    }
  });
  return form;
}

function renderPush(box, s) {
  const key = JSON.stringify([s.push, s.subscribers.map((x) => [x.pc, x.destinations])]);
  if (box.dataset.key !== key) {
    box.dataset.key = key;
    box.replaceChildren(pushForm(s));
  }
}

function renderHistory(box, s) {
  if (s.history.length === 0) { box.replaceChildren(el("p", { class: "note" }, "No job yet.")); return; }
  box.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, ...["Job", "Outcome", "Pages", "Took", "By", "At"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...s.history.map((j) => el("tr", { "data-job": j.id },
      el("td", {}, `#${j.id} ${j.name}`),
      el("td", { class: j.state }, j.state, j.problem ? el("div", { class: "muted" }, `${j.problem}. ${j.advice || ""}`) : null),
      el("td", {}, j.pages), el("td", {}, duration(j.duration)),
      el("td", {}, j.user), el("td", {}, when(j.created)))))));
}

function renderSubscribers(box, s) {
  if (s.subscribers.length === 0) { box.replaceChildren(el("p", { class: "note" }, "None.")); return; }
  box.replaceChildren(el("ul", {}, ...s.subscribers.map((sub) => el("li", {},
    el("strong", {}, sub.pc), sub.from && sub.from !== sub.pc ? ` (${sub.from})` : "",
    sub.expires ? ` · subscribed until ${when(sub.expires)} (the PC renews it)` : "",
    sub.destinations.length ? el("div", { class: "muted" },
      "Destinations: " + sub.destinations.map((d) => d.name).join(", ")) : null))));
}

function renderUrls(box, s) {
  const rows = [];
  if (s.urls.wsd) rows.push(el("li", {}, "WSD (WS-Scan): ", el("code", {}, origin() + s.urls.wsd)));
  if (s.urls.escl) rows.push(el("li", {}, "eSCL (AirScan): ", el("code", {}, origin() + s.urls.escl)));
  if (s.urls.escl_default) {
    rows.push(el("li", {}, "eSCL for clients that take only an address (sane escl): ",
      el("code", {}, origin() + s.urls.escl_default)));
  }
  box.replaceChildren(el("ul", {}, ...rows));
}

// --- the whole page -------------------------------------------------------------------------------

function render(state) {
  uptimeBase = [state.uptime, performance.now()];
  tickUptime();
  const seen = new Set();
  for (const s of state.scanners) {
    seen.add(s.id);
    const node = section(s);
    renderHead(node.querySelector(".head"), s);
    renderConditions(node.querySelector(".conditions"), s);
    renderJob(node.querySelector(".job"), s);
    renderScan(node.querySelector(".scan"), s);
    renderPush(node.querySelector(".push"), s);
    renderHistory(node.querySelector(".history"), s);
    renderSubscribers(node.querySelector(".subscribers"), s);
    renderUrls(node.querySelector(".urls"), s);
  }
  for (const node of document.querySelectorAll("section.scanner")) if (!seen.has(node.id)) node.remove();
  document.getElementById("empty").hidden = state.scanners.length > 0;
  const p = state.protocols;
  document.getElementById("protocols").replaceChildren(
    el("li", {}, `WSD (WS-Scan, Windows): ${p.wsd ? "on" : "off"}; WS-Discovery: ${p.discovery ? "on" : "off"}`),
    el("li", {}, `eSCL (AirScan: macOS, iOS, Android, sane-airscan): ${p.escl ? "on" : "off"}`),
    el("li", {}, `HTTP port ${state.port}`));
  if (location.hash && !document.body.dataset.scrolled) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) { target.scrollIntoView(); document.body.dataset.scrolled = "1"; }
  }
}

function tickUptime() {
  if (!uptimeBase) return;
  const [base, at] = uptimeBase;
  document.getElementById("uptime").textContent = duration(base + (performance.now() - at) / 1000);
}

function setLive(on) {
  const live = document.getElementById("live");
  live.className = on ? "live" : "live off";
  live.textContent = on ? "live" : "reconnecting…";
}

function downloadAnswered() {
  // The hidden frame shows an answer only when the scan did not become a download: an error text.
  const frame = document.getElementById("download");
  let text = "";
  try { text = frame.contentDocument.body.textContent.trim(); } catch (error) { text = ""; }
  const section = document.getElementById(frame.dataset.form || "");
  const message = section && section.querySelector("form.scan .message");
  if (message && text) {
    message.className = "message error";
    message.textContent = text;
  }
}

function start() {
  document.getElementById("download").addEventListener("load", downloadAnswered);
  const events = new EventSource("/events");
  events.addEventListener("state", (event) => { setLive(true); render(JSON.parse(event.data)); });
  events.addEventListener("open", () => setLive(true));
  events.addEventListener("error", () => setLive(false));
  setInterval(tickUptime, 1000);
}

document.addEventListener("DOMContentLoaded", start);
