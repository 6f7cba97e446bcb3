"""The page at `/`: type a text or drop a photo, see every label's score (plain HTML + fetch, no CDN)."""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fieldtune serve: $TITLE</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
textarea { width: 100%; min-height: 6rem; font: inherit; }
#drop { border: 2px dashed #888; padding: 1.5rem; text-align: center; }
table { border-collapse: collapse; margin-top: 1rem; } td, th { padding: .2rem .8rem; text-align: left; }
#error { color: #b00; }
</style></head><body>
<h1>$TITLE</h1>
<p>$TASK model, version <code>$VERSION</code>. API: <a href="/docs">/docs</a>, <a href="/metadata">/metadata</a>.</p>
<form id="form">
$INPUT
<p><button id="predict" type="submit">Predict</button></p>
</form>
<p id="error" role="alert"></p>
<table id="result" hidden><thead><tr><th>field</th><th>value</th></tr></thead><tbody></tbody></table>
<script>
const INPUTS = $INPUTS;
const form = document.getElementById("form");
const error = document.getElementById("error");
const result = document.getElementById("result");
function show(row) {
  const body = result.querySelector("tbody");
  body.replaceChildren();
  for (const [key, value] of Object.entries(row)) {
    const tr = document.createElement("tr");
    for (const cell of [key, value]) {
      const td = document.createElement("td");
      td.textContent = cell === null ? "" : String(cell);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  result.hidden = false;
}
const drop = document.getElementById("drop");
if (drop) {
  const file = document.getElementById("image");
  drop.addEventListener("dragover", (e) => e.preventDefault());
  drop.addEventListener("drop", (e) => { e.preventDefault(); file.files = e.dataTransfer.files; });
}
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  let request;
  if (INPUTS === "text") {
    const text = document.getElementById("text").value;
    request = { method: "POST", headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ texts: [text] }) };
  } else {
    const data = new FormData();
    for (const f of document.getElementById("image").files) data.append("images", f);
    request = { method: "POST", body: data };
  }
  const response = await fetch("/predict", request);
  const answer = await response.json();
  if (!response.ok) { error.textContent = answer.error; result.hidden = true; return; }
  show(answer.predictions[0]);
});
</script></body></html>
"""
_TEXT = '<p><label for="text">Text</label><br><textarea id="text" name="text" required></textarea></p>'
_IMAGE = (
    '<div id="drop"><label for="image">Drop a photo here or choose one</label><br>'
    '<input id="image" name="images" type="file" accept="image/*" required></div>'
)


def page_html(metadata: dict) -> str:
    inputs = metadata["inputs"]
    values = {
        "$TITLE": html.escape(str(metadata["model"])),
        "$TASK": html.escape(metadata["task"]),
        "$VERSION": html.escape(str(metadata["version"])),
        "$INPUTS": json.dumps(inputs),
        "$INPUT": _TEXT if inputs == "text" else _IMAGE,
    }
    page = _PAGE
    for key, value in values.items():
        page = page.replace(key, value)
    return page
