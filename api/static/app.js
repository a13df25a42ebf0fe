// The page's own script: no framework, no build step, no request outside this origin.
// Figures are shown as the API's decimal strings; Number() is used only for
// geometry (where to draw a point) and for choosing which rows to highlight
// when the strings compare equal.
"use strict";

(() => {
  const REFRESH_MS = 10_000; // the status block's promise: every 10 s without a reload
  const SVG_NS = "http://www.w3.org/2000/svg";
  const HOUR_MS = 3_600_000;
  const INTERVAL_MS = { "30s": 30e3, "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "4h": 14400e3, "1d": 86400e3 };
  const REASONS = {
    outlier: "excluded: too far from the median",
    outdated: "excluded: quotes outdated",
    no_snapshot: "excluded: no quotes yet",
    pair_not_listed: "not listed there",
  };
  const STATUS_WORDS = { ok: "fresh", outdated: "outdated", no_data: "no data" };

  const $ = (id) => document.getElementById(id);
  const state = { venues: [], hours: 24, chart: null, seq: { convert: 0, chart: 0, board: 0 } };

  // -- talking to the API ------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(body.message);
      this.status = status;
      this.code = body.error;
      this.details = body.details || {};
    }
  }

  async function api(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [name, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" } });
    } catch {
      throw new ApiError(0, { error: "network", message: "The server cannot be reached; is it running?" });
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok || body === null) {
      const fallback = { error: "http_" + response.status, message: `The server answered HTTP ${response.status}.` };
      throw new ApiError(response.status, body && body.message ? body : fallback);
    }
    return body;
  }

  // -- formatting ---------------------------------------------------------------

  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const shortTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  const clockTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  // "19979.845000000000" -> "19979.845": the same exact value, fewer zeros.
  function trim(decimal) {
    if (typeof decimal !== "string" || !decimal.includes(".")) return decimal ?? "—";
    return decimal.replace(/0+$/, "").replace(/\.$/, "");
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
    if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
    return `${Math.round(seconds / 86400)} d`;
  }

  function setTime(el, iso) {
    el.dateTime = iso;
    el.textContent = timeFormat.format(new Date(iso));
    el.title = iso + " (UTC)";
  }

  // Exact comparison of two plain decimal strings (the venues' bid/ask strings).
  function compareDecimal(a, b) {
    const [ai, af = ""] = a.split(".");
    const [bi, bf = ""] = b.split(".");
    const width = Math.max(af.length, bf.length);
    const x = ai.replace(/^0+/, "") + "." + af.padEnd(width, "0");
    const y = bi.replace(/^0+/, "") + "." + bf.padEnd(width, "0");
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function showError(id, error) {
    const box = $(id);
    box.textContent = error ? error.message : "";
    box.hidden = !error;
  }

  // -- the form -----------------------------------------------------------------

  function readForm() {
    const date = $("date").value;
    const time = $("time").value;
    let timestamp = "";
    if (date || time) {
      const day = date || new Date().toLocaleDateString("sv"); // sv: YYYY-MM-DD
      const moment = new Date(`${day}T${time || "00:00"}`); // local time, as the legend says
      if (!Number.isNaN(moment.getTime())) timestamp = moment.toISOString();
    }
    return {
      amount: $("amount").value.trim(),
      from: $("from").value.trim().toUpperCase(),
      to: $("to").value.trim().toUpperCase(),
      exchange: $("venue").value,
      timestamp,
    };
  }

  function setPairNames(form) {
    for (const node of document.querySelectorAll(".pair-name")) node.textContent = `${form.from}/${form.to}`;
  }

  // -- 1. converter -------------------------------------------------------------

  async function convert() {
    const form = readForm();
    const seq = ++state.seq.convert;
    $("convert-btn").disabled = true;
    try {
      const body = await api("/convert", {
        amount: form.amount, from: form.from, to: form.to, exchange: form.exchange, timestamp: form.timestamp,
      });
      if (seq !== state.seq.convert) return;
      showError("convert-error", null);
      showConversion(form, body);
    } catch (error) {
      if (seq !== state.seq.convert) return;
      $("convert-ok").hidden = true;
      $("convert-said").textContent = "";
      showError("convert-error", error);
    } finally {
      if (seq === state.seq.convert) $("convert-btn").disabled = false;
    }
  }

  function showConversion(form, body) {
    $("r-in").textContent = `${form.amount} ${body.from}`;
    $("r-amount").textContent = body.amount;
    $("r-to").textContent = body.to;
    $("r-rate").textContent = `1 ${body.from} = ${body.rate} ${body.to}`;
    setTime($("r-quoted"), body.quoted_at);
    const mode = form.exchange || body.exchange || "";
    const venue = $("r-venue");
    venue.textContent = "";
    if (mode === "best" && body.venue) {
      const side = body.side === "ask" ? "buys at the ask" : "sells at the bid";
      venue.append("best: ", el("strong", { id: "r-winner" }, body.venue), ` (${side})`);
    } else if (mode === "average" && body.sources) {
      const used = body.sources.filter((s) => s.used).length;
      venue.append(`average of ${used} venue${used === 1 ? "" : "s"}`);
    } else {
      venue.append(body.exchange || mode || "server default");
    }
    const note = $("r-note");
    note.hidden = body.exceeds_top_of_book !== true;
    if (body.exceeds_top_of_book === true) {
      note.textContent = `The amount is more than the best level offers (${trim(body.top_of_book_quantity)} ` +
        `${body.from}): a real order would get a worse price for the rest.`;
    }
    showSources(body);
    $("convert-ok").hidden = false;
    // One sentence for screen readers, rather than announcing the whole table.
    $("convert-said").textContent = `${form.amount} ${body.from} is ${body.amount} ${body.to}, ${venue.textContent}.`;
  }

  function showSources(body) {
    const rows = $("sources-body");
    rows.textContent = "";
    const sources = Array.isArray(body.sources) ? body.sources : [];
    $("sources").hidden = sources.length === 0;
    for (const source of sources) {
      // best: only the winner is `used`; the other candidates have a rate and no reason.
      const chosen = body.venue ? source.exchange === body.venue : source.used;
      const excluded = !source.used && source.reason;
      let verdict = "used";
      if (excluded) verdict = REASONS[source.reason] || `excluded: ${source.reason}`;
      else if (body.venue) verdict = chosen ? "chosen (best)" : "pays less";
      const row = el("tr", { class: chosen ? "chosen" : excluded ? "excluded" : "", "data-venue": source.exchange },
        el("th", { scope: "row" }, source.exchange),
        el("td", { class: "num" }, source.rate ? trim(source.rate) : "—"),
        el("td", { class: "wrap" }, verdict));
      rows.append(row);
    }
  }

  // -- 2. chart -----------------------------------------------------------------

  async function loadChart() {
    const form = readForm();
    const seq = ++state.seq.chart;
    // /rates refuses `best` (a quote for an amount, not a rate): chart the average instead.
    const exchange = form.exchange === "best" ? "average" : form.exchange;
    const end = form.timestamp ? new Date(form.timestamp) : new Date();
    const start = new Date(end.getTime() - state.hours * HOUR_MS);
    $("chart-venue").textContent = form.exchange === "best"
      ? "Mid rate averaged across venues (best is a price for an amount, so it has no history)."
      : `Mid rate on ${exchange || "the server's default venue"}, ${state.hours === 24 ? "last 24 hours" : "last 7 days"}.`;
    try {
      const body = await api("/rates", {
        from: form.from, to: form.to, start: start.toISOString(), end: end.toISOString(), exchange,
      });
      if (seq !== state.seq.chart) return;
      showError("chart-error", null);
      state.chart = { body, form };
      drawChart();
    } catch (error) {
      if (seq !== state.seq.chart) return;
      state.chart = null;
      $("plot").textContent = "";
      $("chart-summary").hidden = true;
      $("chart-readout").textContent = "";
      if (error.code === "not_found") {
        error.message = "Rate history is not available from this server yet.";
      }
      showError("chart-error", error);
    }
  }

  function drawChart() {
    const plot = $("plot");
    plot.textContent = "";
    $("chart-readout").textContent = ""; // it described a point of the previous drawing
    if (!state.chart) return;
    const { body, form } = state.chart;
    const points = (body.points || []).map((p) => ({ t: Date.parse(p.t), v: Number(p.rate), raw: p }));
    const width = Math.max(260, plot.clientWidth);
    const height = width < 480 ? 200 : 260;
    const m = { left: 8, right: 8, top: 28, bottom: 24 };
    const root = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, tabindex: "0", role: "img", id: "chart-svg",
      "aria-label": `Rate of ${form.from}/${form.to}, ${points.length} points. ` +
        "Use the left and right arrow keys to read each point.",
    });
    plot.append(root);
    const summary = body.summary || {};
    $("s-min").textContent = trim(summary.min);
    $("s-max").textContent = trim(summary.max);
    const change = summary.change_percent;
    $("s-change").textContent = change === undefined ? "—" : `${change.startsWith("-") ? "" : "+"}${change} %`;
    $("s-change").className = change && change.startsWith("-") ? "down" : "up";
    $("s-points").textContent = String(points.length);
    $("chart-summary").hidden = false;
    if (points.length === 0) return;

    const t0 = Date.parse(body.start) || points[0].t;
    const t1 = Date.parse(body.end) || points[points.length - 1].t;
    let lo = Math.min(...points.map((p) => p.v));
    let hi = Math.max(...points.map((p) => p.v));
    if (lo === hi) { lo -= Math.abs(lo) * 0.001 || 1; hi += Math.abs(hi) * 0.001 || 1; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const x = (t) => m.left + ((t - t0) / Math.max(1, t1 - t0)) * (width - m.left - m.right);
    const y = (v) => m.top + (1 - (v - lo) / (hi - lo)) * (height - m.top - m.bottom);

    // Grid: three horizontal lines labelled with their value, two time labels. The
    // labels go in a group appended after the line, so the line never hides them.
    const labels = svg("g", { class: "labels" });
    for (const f of [0.1, 0.5, 0.9]) {
      const value = lo + (hi - lo) * (1 - f);
      const gy = m.top + f * (height - m.top - m.bottom);
      root.append(svg("line", { class: "gridline", x1: m.left, x2: width - m.right, y1: gy, y2: gy }));
      const label = svg("text", { class: "axis", x: m.left + 2, y: gy - 4 });
      label.textContent = value.toPrecision(7);
      labels.append(label);
    }
    for (const [t, anchor, xx] of [[t0, "start", m.left], [t1, "end", width - m.right]]) {
      const label = svg("text", { class: "axis", x: xx, y: height - 6, "text-anchor": anchor });
      label.textContent = shortTime.format(new Date(t));
      labels.append(label);
    }

    // The line breaks where a boundary had no snapshot in force (never interpolated).
    const step = INTERVAL_MS[body.interval] || 0;
    let d = "";
    points.forEach((p, i) => {
      const gap = i === 0 || (step && p.t - points[i - 1].t > step * 1.5);
      d += `${gap ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    });
    root.append(svg("path", { class: "line", d }));
    const dense = points.length * 4 > width;
    const marks = svg("g", { class: dense ? "marks dense" : "marks" });
    for (const p of points) {
      p.x = x(p.t);
      p.y = y(p.v);
      marks.append(svg("circle", {
        class: "pt", cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: dense ? 1 : 2.5,
        "data-t": p.raw.t, "data-rate": p.raw.rate,
      }));
    }
    root.append(marks, labels);

    const cursor = svg("g", { class: "cursor", visibility: "hidden" });
    const vline = svg("line", { y1: m.top - 6, y2: height - m.bottom });
    const dot = svg("circle", { r: 4.5 });
    const tag = svg("text", { y: 14 });
    cursor.append(vline, dot, tag);
    root.append(cursor);

    let current = -1;
    const show = (i) => {
      current = Math.max(0, Math.min(points.length - 1, i));
      const p = points[current];
      cursor.setAttribute("visibility", "visible");
      for (const [k, v] of [["x1", p.x], ["x2", p.x]]) vline.setAttribute(k, v);
      dot.setAttribute("cx", p.x);
      dot.setAttribute("cy", p.y);
      const text = `${trim(p.raw.rate)} · ${timeFormat.format(new Date(p.t))}`;
      tag.textContent = text;
      const anchor = p.x < width / 3 ? "start" : p.x > (2 * width) / 3 ? "end" : "middle";
      tag.setAttribute("text-anchor", anchor);
      tag.setAttribute("x", Math.max(m.left, Math.min(width - m.right, p.x)));
      $("chart-readout").textContent = `${trim(p.raw.rate)} ${form.to} per ${form.from} at ` +
        `${timeFormat.format(new Date(p.t))} (quoted ${p.raw.quoted_at || p.raw.t})`;
    };
    const nearest = (px) => {
      let a = 0;
      let b = points.length - 1;
      while (b - a > 1) {
        const mid = (a + b) >> 1;
        if (points[mid].x < px) a = mid; else b = mid;
      }
      return Math.abs(points[a].x - px) <= Math.abs(points[b].x - px) ? a : b;
    };
    root.addEventListener("pointermove", (event) => {
      const box = root.getBoundingClientRect();
      show(nearest(event.clientX - box.left));
    });
    root.addEventListener("pointerleave", () => cursor.setAttribute("visibility", "hidden"));
    root.addEventListener("focus", () => show(current < 0 ? points.length - 1 : current));
    root.addEventListener("blur", () => cursor.setAttribute("visibility", "hidden"));
    root.addEventListener("keydown", (event) => {
      const moves = { ArrowLeft: -1, ArrowRight: 1, PageDown: -12, PageUp: 12 };
      if (event.key in moves) show(current + moves[event.key]);
      else if (event.key === "Home") show(0);
      else if (event.key === "End") show(points.length - 1);
      else return;
      event.preventDefault();
    });
  }

  function setRange(hours) {
    state.hours = hours;
    for (const button of document.querySelectorAll(".toggle button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.hours) === hours));
    }
    loadChart();
  }

  // -- 3. venue board -----------------------------------------------------------

  // The 10 s refresh reuses the last pair asked for, not whatever is half-typed in the form.
  async function loadBoard(asked) {
    const form = asked || state.boardForm || readForm();
    state.boardForm = form;
    const seq = ++state.seq.board;
    let body;
    try {
      try {
        body = await api("/prices", { pair: `${form.from}/${form.to}`, timestamp: form.timestamp });
      } catch (error) {
        // Venues list a pair one way round; the board shows it as they list it.
        if (error.code !== "pair_not_found") throw error;
        body = await api("/prices", { pair: `${form.to}/${form.from}`, timestamp: form.timestamp })
          .catch(() => { throw error; });
      }
    } catch (error) {
      if (seq !== state.seq.board) return;
      $("board-body").textContent = "";
      $("board-average").textContent = "";
      if (error.code === "not_found") error.message = "The price board is not available from this server yet.";
      showError("board-error", error);
      return;
    }
    if (seq !== state.seq.board) return;
    showError("board-error", null);
    showBoard(body);
  }

  function showBoard(body) {
    const [name, entry] = Object.entries(body.pairs || {})[0] || ["", { exchanges: {} }];
    if (name) document.querySelector("#board .pair-name").textContent = name;
    const quotes = Object.entries(entry.exchanges || {});
    const statuses = body.exchanges || {};
    const best = (key, better) => quotes.reduce((acc, [, q]) => (acc === null || better(compareDecimal(q[key], acc)) ? q[key] : acc), null);
    const bestBid = best("bid", (c) => c > 0);
    const bestAsk = best("ask", (c) => c < 0);
    const rows = $("board-body");
    rows.textContent = "";
    for (const [venue, q] of quotes) {
      const seconds = statuses[venue] && statuses[venue].age_seconds !== undefined
        ? statuses[venue].age_seconds : (Date.now() - Date.parse(q.quoted_at)) / 1000;
      const isBid = compareDecimal(q.bid, bestBid) === 0;
      const isAsk = compareDecimal(q.ask, bestAsk) === 0;
      const cell = (value, mark, label) => {
        const td = el("td", { class: mark ? "num best" : "num", "data-label": label.slice(5) }, value);
        if (mark) td.append(el("span", { class: "badge" }, label));
        return td;
      };
      rows.append(el("tr", { "data-venue": venue },
        el("th", { scope: "row" }, venue),
        cell(q.bid, isBid, "best bid"),
        cell(q.ask, isAsk, "best ask"),
        el("td", { class: "num", "data-label": "mid" }, trim(q.mid)),
        el("td", { class: "num", "data-label": "age", title: q.quoted_at }, age(seconds))));
    }
    for (const [venue, info] of Object.entries(statuses)) {
      if (entry.exchanges && venue in entry.exchanges) continue;
      const why = info.status === "ok" ? "does not list this pair" : STATUS_WORDS[info.status] || info.status;
      rows.append(el("tr", { class: "excluded", "data-venue": venue },
        el("th", { scope: "row" }, venue), el("td", { colspan: "4" }, why)));
    }
    $("board-average").textContent = entry.average ? `Average mid across venues: ${trim(entry.average)}` : "";
  }

  // -- 4. status ----------------------------------------------------------------

  // /exchanges names each venue; accept a name -> info object or a list of entries.
  function venueEntries(body) {
    const block = body && body.exchanges !== undefined ? body.exchanges : body;
    if (Array.isArray(block)) return block.map((v) => [v.exchange || v.name, v]);
    return Object.entries(block || {});
  }

  async function loadStatus() {
    try {
      const body = await api("/exchanges");
      const entries = venueEntries(body);
      showError("status-error", null);
      const list = $("status-list");
      list.textContent = "";
      for (const [venue, info] of entries) {
        const status = info.status || "unknown";
        const quoted = info.quoted_at ? `, quoted ${age(info.age_seconds)} ago` : "";
        list.append(el("li", { "data-venue": venue, "data-status": status },
          el("span", { class: "name" }, venue),
          el("span", { class: `badge ${status}` }, STATUS_WORDS[status] || status),
          el("span", { class: "meta" }, `${info.pairs ?? 0} pairs${quoted}`)));
      }
      if (state.venues.length === 0 && entries.length > 0) {
        fillVenues(entries.map(([venue]) => venue), body.default_exchange);
      }
    } catch (error) {
      if (error.code === "not_found") error.message = "Venue status is not available from this server yet.";
      showError("status-error", error);
    }
    const checked = $("status-checked");
    checked.dateTime = new Date().toISOString();
    checked.textContent = clockTime.format(new Date());
  }

  function fillVenues(venues, preferred) {
    state.venues = venues;
    const select = $("venue");
    select.textContent = "";
    for (const venue of [...venues, "best", "average"]) select.append(el("option", { value: venue }, venue));
    // Start on what /convert uses without `exchange` (DEFAULT_EXCHANGE), so the page agrees with it.
    if (preferred && [...select.options].some((o) => o.value === preferred)) select.value = preferred;
  }

  async function loadCurrencies() {
    try {
      const body = await api("/currencies");
      const list = $("codes");
      list.textContent = "";
      for (const code of body.currencies || []) list.append(el("option", { value: code }));
    } catch {
      // Suggestions are a convenience: the converter says what is wrong on submit.
    }
  }

  // -- wiring -------------------------------------------------------------------

  function refreshPair() {
    const form = readForm();
    setPairNames(form);
    convert();
    loadChart();
    loadBoard(form);
  }

  function tick() {
    // setTimeout after each answer, not setInterval: a slow answer never piles up requests.
    Promise.all([loadStatus(), loadBoard()]).finally(() => window.setTimeout(tick, REFRESH_MS));
  }

  async function start() {
    $("convert-form").addEventListener("submit", (event) => {
      event.preventDefault();
      convert();
    });
    for (const id of ["from", "to", "venue", "date", "time"]) $(id).addEventListener("change", refreshPair);
    $("swap").addEventListener("click", () => {
      [$("from").value, $("to").value] = [$("to").value, $("from").value];
      refreshPair();
    });
    $("now").addEventListener("click", () => {
      $("date").value = "";
      $("time").value = "";
      refreshPair();
    });
    for (const button of document.querySelectorAll(".toggle button")) {
      button.addEventListener("click", () => setRange(Number(button.dataset.hours)));
    }
    let resizing = 0;
    window.addEventListener("resize", () => {
      window.clearTimeout(resizing);
      resizing = window.setTimeout(drawChart, 150);
    });
    loadCurrencies();
    await loadStatus(); // fills the venue list before the first conversion
    refreshPair();
    window.setTimeout(tick, REFRESH_MS);
  }

  start();
})();
