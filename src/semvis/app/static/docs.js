// semvis API page: renders /openapi.json as plain HTML (endpoints, parameters, bodies, responses,
// schemas) with no external assets, so /docs works offline. Text goes in through textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

function refName(ref) {
  return ref.split("/").pop();
}

// A schema as a short type text; named schemas become links to their section below.
function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return el("a", { href: `#schema-${refName(schema.$ref)}`, textContent: refName(schema.$ref) });
  const union = schema.anyOf || schema.oneOf;
  if (union) return el("span", {}, ...union.flatMap((s, i) => (i ? [" | ", typeOf(s)] : [typeOf(s)])));
  if (schema.type === "array") return el("span", {}, "array of ", typeOf(schema.items));
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const limits = [
    schema.format,
    schema.minimum !== undefined ? `≥ ${schema.minimum}` : null,
    schema.maximum !== undefined ? `≤ ${schema.maximum}` : null,
    schema.pattern ? `pattern ${schema.pattern}` : null,
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : null,
  ].filter(Boolean);
  return `${schema.type || "any"}${limits.length ? ` (${limits.join(", ")})` : ""}`;
}

function table(headings, rows) {
  const head = el("tr", {}, ...headings.map((h) => el("th", { textContent: h })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells))));
}

function nameCell(name, required) {
  return el("td", {}, el("code", { textContent: name, className: required ? "required" : "" }));
}

function contentTypes(content) {
  return Object.entries(content || {}).flatMap(([type, media]) => [el("code", { textContent: type }), " ", typeOf(media.schema), " "]);
}

function operation(path, method, op) {
  const link = method === "get" && !path.includes("{") ? el("a", { href: path }, el("code", { textContent: path })) : el("code", { textContent: path });
  const parts = [
    el("h3", {}, el("span", { className: `method ${method}`, textContent: method.toUpperCase() }), link, op.summary || ""),
    op.description ? el("p", { textContent: op.description }) : null,
  ];
  if (op.parameters?.length) {
    const rows = op.parameters.map((p) => [nameCell(p.name, p.required), el("td", { textContent: p.in }), el("td", {}, typeOf(p.schema)), el("td", { textContent: p.description || "" })]);
    parts.push(table(["parameter", "in", "type", "description"], rows));
  }
  if (op.requestBody) {
    parts.push(el("p", {}, el("strong", { textContent: "Body: " }), ...contentTypes(op.requestBody.content), op.requestBody.description || ""));
  }
  const responses = Object.entries(op.responses || {}).map(([code, r]) => [el("td", {}, el("code", { textContent: code })), el("td", {}, r.description || "", " ", ...contentTypes(r.content))]);
  parts.push(table(["status", "response"], responses));
  return el("section", { className: "op", id: op.operationId || `${method} ${path}` }, ...parts);
}

function schemaSection(name, schema) {
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([prop, s]) => [nameCell(prop, required.has(prop)), el("td", {}, typeOf(s)), el("td", { textContent: s.description || "" })]);
  return el(
    "section",
    { className: "schema", id: `schema-${name}` },
    el("h3", {}, el("code", { textContent: name })),
    schema.description ? el("p", { textContent: schema.description }) : null,
    rows.length ? table(["field", "type", "description"], rows) : el("p", {}, typeOf(schema)),
  );
}

async function render() {
  const reply = await fetch("/openapi.json");
  if (!reply.ok) throw new Error(`/openapi.json: HTTP ${reply.status}`);
  const spec = await reply.json();
  document.title = `${spec.info.title} · API`;
  $("title").textContent = spec.info.title;
  $("version").textContent = `version ${spec.info.version} · OpenAPI ${spec.openapi}`;
  $("description").textContent = spec.info.description || "";
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS.filter((m) => item[m])) $("operations").append(operation(path, method, item[method]));
  }
  for (const [name, schema] of Object.entries(spec.components?.schemas || {})) $("schemas").append(schemaSection(name, schema));
  $("status").hidden = true;
}

render().catch((error) => {
  $("status").textContent = `Cannot show the API: ${error.message}`;
  $("status").className = "error";
});
