// The /docs explorer: a "try it" form under every GET operation of the page.
//
// The page itself is rendered by the server (api/docs.py) and reads fine
// without this script. This reads /docs/openapi.json, builds one form per
// operation from its parameters (query and header), sends the request to
// this same origin with fetch() and shows the status, every response header
// and the body (JSON indented). Nothing is loaded from anywhere else, and
// response text is only ever set as textContent, never parsed as HTML.
"use strict";

(function () {
  const DOCUMENT_URL = "/docs/openapi.json";
  const BODY_LIMIT = 20000; // characters of a non-JSON body shown (the page's own HTML)

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function resolve(doc, node) {
    if (!node || typeof node.$ref !== "string") return node;
    return node.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce((target, part) => target[part], doc);
  }

  function field(operationId, parameter) {
    const id = `${operationId}-${parameter.in}-${parameter.name}`.replace(/[^A-Za-z0-9-]/g, "-");
    const schema = parameter.schema || {};
    const example = parameter.example === undefined ? "" : String(parameter.example);
    let input;
    if (Array.isArray(schema.enum)) {
      input = el("select", { id, name: parameter.name });
      if (!parameter.required) input.append(el("option", { value: "", text: "(none)" }));
      for (const value of schema.enum) input.append(el("option", { value, text: value }));
    } else {
      input = el("input", {
        id,
        name: parameter.name,
        type: "text",
        autocomplete: "off",
        spellcheck: "false",
        // Required parameters start filled in, so one click sends a valid request.
        value: parameter.required ? example : undefined,
        placeholder: parameter.required ? undefined : example,
      });
    }
    input.dataset.in = parameter.in;
    const label = el(
      "label",
      { for: id },
      el("code", { text: parameter.name }),
      parameter.in === "header" ? " (header)" : null,
      parameter.required ? el("span", { class: "req", text: " required" }) : null,
    );
    return el("div", { class: "field" }, label, input);
  }

  function requestFor(path, form) {
    const query = new URLSearchParams();
    const headers = { Accept: "application/json" };
    for (const input of form.querySelectorAll("[data-in]")) {
      if (input.value === "") continue;
      if (input.dataset.in === "query") query.append(input.name, input.value);
      else if (input.dataset.in === "header") headers[input.name] = input.value;
    }
    const search = query.toString();
    return { url: path + (search ? `?${search}` : ""), headers };
  }

  function curlFor(method, url, headers) {
    const quote = (text) => `'${text.replace(/'/g, "'\\''")}'`;
    const parts = ["curl", method === "HEAD" ? "-I" : "-i"];
    for (const [name, value] of Object.entries(headers)) {
      if (name !== "Accept") parts.push("-H", quote(`${name}: ${value}`));
    }
    parts.push(quote(new URL(url, window.location.href).href));
    return parts.join(" ");
  }

  async function send(method, path, form, out) {
    const { url, headers } = requestFor(path, form);
    out.hidden = false;
    out.querySelector(".curl").textContent = curlFor(method, url, headers);
    const status = out.querySelector(".status");
    const table = out.querySelector(".headers tbody");
    const body = out.querySelector(".body");
    status.textContent = "sending…";
    status.className = "status";
    table.replaceChildren();
    body.textContent = "";
    const started = performance.now();
    let response;
    try {
      // no-store: the browser's cache stays out of the way, so a 304 for an
      // If-None-Match given in the form reaches this page as a 304.
      response = await fetch(url, { method, headers, cache: "no-store" });
    } catch (error) {
      status.textContent = `request failed: ${error}`;
      status.className = "status bad";
      return;
    }
    const ms = Math.round(performance.now() - started);
    status.textContent = `${response.status} ${response.statusText} · ${ms} ms · ${method} ${url}`;
    status.className = `status ${response.ok ? "ok" : response.status === 304 ? "info" : "bad"}`;
    for (const [name, value] of response.headers) {
      table.append(el("tr", {}, el("th", { text: name }), el("td", { text: value })));
    }
    const text = await response.text();
    if (!text) {
      body.textContent = method === "HEAD" || response.status === 304 ? "(no body)" : "(empty)";
      return;
    }
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("application/json")) {
      try {
        body.textContent = JSON.stringify(JSON.parse(text), null, 2);
        return;
      } catch (_) {
        // not JSON after all: shown as text below
      }
    }
    body.textContent =
      text.length > BODY_LIMIT ? `${text.slice(0, BODY_LIMIT)}\n… (${text.length} characters)` : text;
  }

  function output() {
    return el(
      "div",
      { class: "result", hidden: true, "aria-live": "polite" },
      el("p", { class: "status" }),
      el("pre", { class: "curl", title: "The same request with curl" }),
      el(
        "details",
        { class: "headers" },
        el("summary", { text: "Response headers" }),
        el("table", {}, el("tbody")),
      ),
      el("pre", { class: "body" }),
    );
  }

  function attach(doc, section) {
    const path = section.dataset.path;
    const operation = doc.paths[path] && doc.paths[path][section.dataset.method];
    if (!operation) return;
    const operationId = section.id;
    const parameters = (operation.parameters || [])
      .map((p) => resolve(doc, p))
      .filter((p) => p.in === "query" || p.in === "header");
    const form = el("form", { class: "try", "aria-label": `Try ${path}` });
    form.append(el("h4", { text: "Try it" }));
    const fields = el("div", { class: "fields" });
    for (const parameter of parameters) fields.append(field(operationId, parameter));
    form.append(fields);
    const method = el(
      "select",
      { name: "method", "aria-label": "HTTP method" },
      el("option", { value: "GET", text: "GET" }),
      el("option", { value: "HEAD", text: "HEAD" }),
    );
    form.append(el("div", { class: "actions" }, method, el("button", { type: "submit", text: "Send" })));
    const out = output();
    form.append(out);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(method.value, path, form, out);
    });
    section.append(form);
  }

  async function main() {
    let doc;
    try {
      const response = await fetch(DOCUMENT_URL, { headers: { Accept: "application/json" } });
      doc = await response.json();
    } catch (error) {
      const note = document.getElementById("try-note");
      if (note) note.textContent = `The forms could not be built: ${error}`;
      return;
    }
    for (const section of document.querySelectorAll("section.op[data-method='get']")) {
      attach(doc, section);
    }
    document.body.classList.add("explorer-ready");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
