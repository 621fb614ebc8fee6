"""``/docs``: the API reference as one self-contained page, rendered from the schema.

FastAPI's Swagger UI and ReDoc pages load their JavaScript and CSS from a CDN, so on
a machine without internet access they are blank, and nothing installed here ships
those assets. This page needs no script and no network: every route, its body with
its limits, its answers and a curl line, from the same ``/openapi.json`` that
interactive tools (Swagger UI, Postman, Schemathesis) can load.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; }
code, pre { font: 13px ui-monospace, monospace; background: #f3f3f5; border-radius: 4px; }
pre { padding: .6rem .8rem; overflow-x: auto; }
section { border-top: 1px solid #ddd; padding: .4rem 0 .8rem; }
.method { font-weight: 700; margin-right: .4rem; }
table { border-collapse: collapse; } td { padding: .1rem 1rem .1rem 0; vertical-align: top; }
.note { background: #fff8e0; padding: .6rem .8rem; border-radius: 4px; }
"""

CONSTRAINTS = {
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
}


def api_reference(schema: dict[str, Any], address: str = "localhost:8000") -> str:
    """The HTML reference of an OpenAPI ``schema``; relative links only, and curl lines
    for the server at ``address`` (host:port)."""
    info = schema.get("info", {})
    sections = [
        _operation(schema, path, method, operation, address)
        for path, methods in schema.get("paths", {}).items()
        for method, operation in methods.items()
    ]
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(info.get('title', 'API'))} API</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        "<p class='note'>This reference is served by the server itself and works offline. "
        "For an interactive console, load the machine-readable schema "
        "<a href='openapi.json'>/openapi.json</a> into an OpenAPI tool (Swagger UI, Postman, "
        "Insomnia); the server does not load one from a CDN.</p>"
        + "".join(sections)
        + "</body></html>"
    )


def _operation(
    schema: dict[str, Any], path: str, method: str, operation: dict[str, Any], address: str
) -> str:
    parts = [
        f"<section><h2><span class='method'>{escape(method.upper())}</span>"
        f"<code>{escape(path)}</code></h2>"
        f"<p><b>{escape(operation.get('summary', ''))}</b> "
        f"{escape(operation.get('description', ''))}</p>"
    ]
    if operation.get("security"):
        parts.append("<p>Needs the API key in the <code>X-API-Key</code> header.</p>")
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    example = None
    if body:
        fields = _resolve(schema, body.get("schema", {}))
        rows = "".join(
            f"<tr><td><code>{escape(name)}</code></td>"
            f"<td>{escape(_describe(schema, field))}</td></tr>"
            for name, field in fields.get("properties", {}).items()
        )
        parts.append(f"<p>JSON body, no other fields:</p><table>{rows}</table>")
        example = {name: _example(schema, f) for name, f in fields.get("properties", {}).items()}
    answers = "".join(
        f"<tr><td>{escape(code)}</td><td>{escape(answer.get('description', ''))}</td></tr>"
        for code, answer in operation.get("responses", {}).items()
    )
    parts.append(f"<table>{answers}</table>")
    curl = f"curl -s {address}{path}"
    if operation.get("security"):
        curl += " -H 'X-API-Key: YOUR_KEY'"
    if method != "get":
        curl += f" -H 'content-type: application/json' -d '{json.dumps(example or {})}'"
    parts.append(f"<pre>{escape(curl)}</pre></section>")
    return "".join(parts)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` to ``#/components/schemas/...``."""
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _describe(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """``array of string (at most 5000 characters), at most 64 items``-style text."""
    node = _resolve(schema, node)
    kind = str(node.get("type", "object"))
    if kind == "array":
        kind = f"array of {_describe(schema, node.get('items', {}))}"
    limits = [text.format(node[key]) for key, text in CONSTRAINTS.items() if key in node]
    described = f"{kind} ({', '.join(limits)})" if limits else kind
    if node.get("description"):
        described += f": {node['description']}"
    return described


def _example(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    node = _resolve(schema, node)
    if node.get("type") == "array":
        return [_example(schema, node.get("items", {}))]
    return "a fine, moving film" if node.get("type") == "string" else None
