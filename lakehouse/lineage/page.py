"""The lineage review page: one HTML file, inline CSS/JS/SVG, readable offline and without JavaScript.

The graph is SVG laid out in Python (:meth:`LineageGraph.layout`); the runs and the column lineage are plain tables.
The script only adds the search box (filter or highlight a table or job, look up an embedding id in the embedded
index, ``#q=...`` in the URL applies a search on load) and a details panel when a node is clicked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.lineage.graph import DatasetNode, EmbeddingIndex, JobNode, LineageGraph

__all__ = ["render"]

# a node's box and the gaps between them, in SVG pixels (the graph's layout places boxes of this size)
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 250, 66, 90, 28, 20

MAX_RUN_DOTS = 12

CSS = """
:root{--bg:#fbfbfd;--fg:#1d2330;--muted:#6b7385;--ds:#e8f1ff;--ds-b:#3b73d9;--emb:#efe8ff;--emb-b:#7a4fd6;
--job:#fff4e0;--job-b:#d98a1c;--ok:#2e9d57;--fail:#d43c3c;--run:#8a93a6;--hit:#ffcf33}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);
background:var(--bg)}header{display:flex;gap:16px;align-items:center;padding:12px 20px;border-bottom:1px solid #dde1ea;
background:#fff;position:sticky;top:0;z-index:2}h1{font-size:18px;margin:0}
header .meta{color:var(--muted);font-size:12px}
#search{flex:1;max-width:520px;padding:7px 10px;border:1px solid #c4cad6;border-radius:6px;font-size:14px}
main{padding:12px 20px}.note{background:#fff8e1;border:1px solid #f0d27a;padding:6px 10px;border-radius:6px;
margin:6px 0;font-size:13px}#graph-wrap{overflow:auto;border:1px solid #dde1ea;background:#fff;border-radius:8px}
svg text{font-size:12px;fill:var(--fg)}svg .sub{font-size:11px;fill:var(--muted);font-family:ui-monospace,monospace}
.node{cursor:pointer}.node rect.box{stroke-width:1.5}.dataset rect.box{fill:var(--ds);stroke:var(--ds-b)}
.dataset.embeddings rect.box{fill:var(--emb);stroke:var(--emb-b)}.job rect.box{fill:var(--job);stroke:var(--job-b)}
.node.hit rect.box{stroke:#b8860b;stroke-width:3;fill:var(--hit)}.node.dim,.edge.dim{opacity:.18}
.edge{fill:none;stroke:#9aa3b5;stroke-width:1.5}.edge.output{stroke:#6a7ea8}
.edge.parent{stroke-dasharray:5 4;stroke:#c7a15a}
.run.COMPLETE{fill:var(--ok)}.run.FAIL,.run.ABORT{fill:var(--fail)}.run.START,.run.RUNNING,.run.OTHER{fill:var(--run)}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 14px}th,td{border:1px solid #dde1ea;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#f2f4f8}
td.mono,.mono{font-family:ui-monospace,monospace;font-size:12px}
tr.hidden{display:none}.state-FAIL{color:var(--fail);font-weight:600}.state-COMPLETE{color:var(--ok)}
#details{border:1px solid #dde1ea;border-radius:8px;background:#fff;padding:8px 12px;margin:10px 0}
#embedding-result{border:2px solid var(--emb-b);border-radius:8px;background:var(--emb);padding:8px 12px;margin:10px 0}
details{margin:4px 0}summary{cursor:pointer;font-weight:600}h2{font-size:16px;margin:18px 0 6px}
"""

SCRIPT = r"""
(function(){
const data = JSON.parse(document.getElementById('lineage-data').textContent);
const byId = {};
data.graph.datasets.forEach(d => byId[d.id] = d); data.graph.jobs.forEach(j => byId[j.id] = j);
const runs = {}; data.graph.runs.forEach(r => runs[r.run_id] = r);
const nodes = Array.from(document.querySelectorAll('g.node'));
const edges = Array.from(document.querySelectorAll('path.edge'));
const rows = Array.from(document.querySelectorAll('[data-search]'));
const box = document.getElementById('search'), result = document.getElementById('embedding-result');
const status = document.getElementById('search-status'), details = document.getElementById('details');
const emb = data.embeddings.rows;
function el(tag, text, cls){
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function lookup(q){
  if (emb[q]) return q;
  if (q.length < 6) return null;
  const found = Object.keys(emb).filter(k => k.startsWith(q));
  return found.length === 1 ? found[0] : null;
}
function showEmbedding(id){
  const r = emb[id]; result.replaceChildren(); result.hidden = false;
  result.appendChild(el('strong', 'embedding ' + id));
  const t = el('table'); t.id = 'embedding-fields';
  [['embeddings table', r[0]], ['source table', r[1]], ['source key', r[2]], ['source snapshot', r[3]],
   ['chunk', '#' + r[4] + ' [' + r[5] + ':' + r[6] + ']'], ['text (preview)', r[7]]].forEach(([k, v]) => {
    const tr = el('tr'); tr.appendChild(el('th', k)); tr.appendChild(el('td', String(v), 'mono')); t.appendChild(tr);
  });
  result.appendChild(t);
  result.appendChild(el('div', 'exact span and run: lakehouse lineage trace ' + r[0] + ' ' + id, 'mono'));
  return [r[0], r[1]];
}
function apply(raw){
  const q = raw.trim().toLowerCase();
  result.hidden = true;
  if (!q){
    nodes.concat(edges).forEach(n => n.classList.remove('hit', 'dim'));
    rows.forEach(r => r.classList.remove('hidden'));
    status.textContent = ''; return;
  }
  let names = null; const id = lookup(q);
  if (id) names = showEmbedding(id);
  const hits = new Set();
  nodes.forEach(n => {
    const name = n.dataset.name.toLowerCase();
    const hit = names ? names.includes(n.dataset.name) : name.includes(q);
    n.classList.toggle('hit', hit); n.classList.toggle('dim', !hit); if (hit) hits.add(n.id);
  });
  edges.forEach(e => e.classList.toggle('dim', !(hits.has(e.dataset.source) || hits.has(e.dataset.target))));
  const needles = names ? names.map(s => s.toLowerCase()) : [q];
  rows.forEach(r => r.classList.toggle('hidden', !needles.some(s => r.dataset.search.toLowerCase().includes(s))));
  status.textContent = id ? 'embedding found' : (hits.size + ' node(s) match' +
    (Object.keys(emb).length && q.length >= 6 && /^[0-9a-f]+$/.test(q) ? '; no such embedding id in the index' : ''));
}
function showNode(n){
  const d = byId[n.dataset.id]; details.replaceChildren(); details.hidden = false;
  details.appendChild(el('strong', (n.dataset.kind === 'job' ? 'job ' : 'dataset ') + d.namespace + ' / ' + d.name));
  const t = el('table');
  const add = cells => {
    const tr = el('tr');
    cells.forEach(c => tr.appendChild(el('td', c === null || c === undefined ? '' : String(c), 'mono')));
    t.appendChild(tr);
  };
  if (n.dataset.kind === 'job'){
    add(['run', 'state', 'started', 'ended', 'reads', 'writes']);
    d.runs.map(r => runs[r]).reverse().forEach(r => add([r.run_id, r.state, r.started_at, r.ended_at,
      r.inputs.map(i => (byId[i.dataset]||{}).name + '@' + i.version).join(' '),
      r.outputs.map(o => (byId[o.dataset]||{}).name + '@' + o.version).join(' ')]));
  } else {
    add(['snapshot', 'role', 'job', 'run', 'time', 'rows']);
    d.versions.slice().reverse().forEach(v => add([v.version, v.role, v.job, v.run_id, v.time, v.rows]));
  }
  details.appendChild(t);
}
nodes.forEach(n => n.addEventListener('click', () => showNode(n)));
box.addEventListener('input', () => { apply(box.value);
  const url = box.value ? '#q=' + encodeURIComponent(box.value) : location.pathname + location.search;
  history.replaceState(null, '', url); });
const m = location.hash.match(/^#q=(.*)$/);
if (m){ box.value = decodeURIComponent(m[1]); apply(box.value); }
document.body.dataset.ready = 'true';
})();
"""


def _short(node: DatasetNode) -> str:
    if node.namespace == "file":
        parts = node.name.rstrip("/").split("/")
        return ".../" + "/".join(parts[-2:]) if len(parts) > 2 else node.name
    return node.name


def _fit(text: str, chars: int = 34) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _svg(graph: LineageGraph) -> str:
    pos = graph.layout()
    ids = {n: f"n{i}" for i, n in enumerate(pos)}
    width = max((x for x, _ in pos.values()), default=0) + NODE_W + MARGIN
    height = max((y for _, y in pos.values()), default=0) + NODE_H + MARGIN
    out = [
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a93a6"/></marker></defs>',
    ]
    for e in graph.edges:
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        if e.kind == "parent":  # from the bottom of the parent job to the top of the child job
            sx, sy, tx, ty = x1 + NODE_W // 2, y1 + NODE_H, x2 + NODE_W // 2, y2
            d = f"M {sx} {sy} C {sx} {sy + 40}, {tx} {ty - 40}, {tx} {ty}"
        else:
            sx, sy, tx, ty = x1 + NODE_W, y1 + NODE_H // 2, x2, y2 + NODE_H // 2
            bend = max(40, (tx - sx) // 2) if tx > sx else GAP_X + abs(tx - sx) // 3
            d = f"M {sx} {sy} C {sx + bend} {sy}, {tx - bend} {ty}, {tx} {ty}"
        out.append(
            f'<path class="edge {e.kind}" data-source="{ids[e.source]}" data-target="{ids[e.target]}" '
            f'd="{d}" marker-end="url(#arrow)"/>'
        )
    for node_id, (x, y) in pos.items():
        if node_id in graph.datasets:
            out.append(_dataset_svg(graph.datasets[node_id], ids[node_id], x, y))
        else:
            out.append(_job_svg(graph.jobs[node_id], ids[node_id], x, y))
    out.append("</svg>")
    return "\n".join(out)


def _dataset_svg(d: DatasetNode, nid: str, x: int, y: int) -> str:
    kind = "dataset embeddings" if d.is_embeddings else "dataset"
    versions = [v for v in d.versions if v["role"] == "wrote"] or d.versions
    sub = f"snapshot {d.latest_version}" if d.latest_version else d.namespace
    count = " · ".join(
        part
        for part in (
            f"{len(versions)} version(s)" if versions else "",
            f"{len(d.fields)} column(s)" if d.fields else "",
        )
        if part
    )
    return (
        f'<g class="node {kind}" id="{nid}" data-kind="dataset" data-id="{escape(d.id)}" data-name="{escape(d.name)}" '
        f'transform="translate({x},{y})"><title>{escape(d.namespace)}\n{escape(d.name)}</title>'
        f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
        f'<text x="10" y="19" font-weight="600">{escape(_fit(_short(d)))}</text>'
        f'<text class="sub" x="10" y="37">{escape(_fit(sub, 38))}</text>'
        f'<text class="sub" x="10" y="54">{escape(count)}</text></g>'
    )


def _job_svg(j: JobNode, nid: str, x: int, y: int) -> str:
    last = j.runs[-MAX_RUN_DOTS:]
    dots = "".join(
        f'<circle class="run {escape(r.state or "OTHER")}" data-run="{escape(r.run_id)}" cx="{16 + 16 * i}" cy="47" '
        f'r="6"><title>run {escape(r.run_id)}: {escape(r.state or "?")} {escape(r.started_at or "")}</title></circle>'
        for i, r in enumerate(last)
    )
    return (
        f'<g class="node job" id="{nid}" data-kind="job" data-id="{escape(j.id)}" data-name="{escape(j.name)}" '
        f'transform="translate({x},{y})"><title>job {escape(j.namespace)}/{escape(j.name)}</title>'
        f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="16"/>'
        f'<text x="10" y="20" font-weight="600">{escape(_fit(j.name))}</text>'
        f'<text class="sub" x="{NODE_W - 10}" y="20" text-anchor="end">{len(j.runs)} run(s)</text>{dots}</g>'
    )


def _cell(value: Any, cls: str = "mono") -> str:
    return f'<td class="{cls}">{escape("" if value is None else str(value))}</td>'


def _runs_table(graph: LineageGraph) -> str:
    names = {d.id: d.name for d in graph.datasets.values()}
    head = "".join(
        f"<th>{h}</th>"
        for h in ("job", "run", "state", "started", "ended", "parent run", "reads", "writes", "parameters")
    )
    body = []
    for r in reversed(graph.runs):
        reads = " ".join(f"{names.get(i['dataset'], i['dataset'])}@{i['version']}" for i in r.inputs)
        writes = " ".join(
            f"{names.get(o['dataset'], o['dataset'])}@{o['version']}"
            + (f" ({o['rows']} rows)" if o["rows"] is not None else "")
            for o in r.outputs
        )
        params = ", ".join(f"{k}={v}" for k, v in r.parameters.items())
        search = " ".join([r.job, r.run_id, reads, writes])
        state = (
            f'<td class="state-{escape(r.state or "")}">{escape(r.state or "")}'
            + (f"<br><small>{escape(r.error[:200])}</small>" if r.error else "")
            + "</td>"
        )
        body.append(
            f'<tr class="run-row" data-search="{escape(search)}" data-run="{escape(r.run_id)}">'
            f"{_cell(r.job, '')}{_cell(r.run_id)}{state}{_cell(r.started_at)}{_cell(r.ended_at)}"
            f"{_cell(r.parent_run_id)}{_cell(reads)}{_cell(writes)}{_cell(params)}</tr>"
        )
    return f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _datasets_section(graph: LineageGraph) -> str:
    names = {d.id: d.name for d in graph.datasets.values()}
    out = []
    for d in sorted(graph.datasets.values(), key=lambda d: d.name):
        parts = [
            f'<details class="dataset-details" data-search="{escape(d.name)}" data-name="{escape(d.name)}">'
            f"<summary>{escape(d.name)} <small>({escape(d.namespace)})</small></summary>"
        ]
        if d.versions:
            rows = "".join(
                f"<tr>{_cell(v['version'])}{_cell(v['role'], '')}{_cell(v['job'], '')}{_cell(v['run_id'])}"
                f"{_cell(v['time'])}{_cell(v['rows'])}</tr>"
                for v in reversed(d.versions)
            )
            parts.append(
                "<table><tr><th>snapshot</th><th>role</th><th>job</th><th>run</th><th>time</th>"
                f"<th>rows</th></tr>{rows}</table>"
            )
        for v in d.vectors:
            parts.append(f'<div class="mono">vector {escape(str(v.get("column")))}: {escape(json.dumps(v))}</div>')
        if d.column_lineage:
            rows = "".join(
                f'<tr class="column-lineage">{_cell(column)}'
                f"{_cell(names.get(i['dataset'], i['name']) + '.' + str(i['field']))}"
                f"{_cell('; '.join(i['transformations']), '')}</tr>"
                for column, inputs in d.column_lineage.items()
                for i in inputs
            )
            parts.append("<table><tr><th>column</th><th>derives from</th><th>how</th></tr>" + rows + "</table>")
        parts.append("</details>")
        out.append("".join(parts))
    return "\n".join(out)


def render(graph: LineageGraph, index: EmbeddingIndex, *, title: str) -> str:
    payload = json.dumps({"graph": graph.to_dict(), "embeddings": index.to_dict()}, default=str, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # keep the JSON from closing its <script> element
    notes = list(index.notes)
    total = sum(t or 0 for t in index.totals.values())
    if index.capped:
        notes.insert(
            0,
            f"embedding index capped: {len(index.rows):,} of {total:,} embeddings can be searched here "
            f"(limit {index.limit:,}); `lakehouse lineage trace <table> <embedding_id>` answers for any.",
        )
    notes_html = "".join(f'<div class="note" id="index-note">{escape(n)}</div>' for n in notes)
    empty = "" if graph.runs else '<div class="note">no lineage events yet: run a job (lakehouse demo)</div>'
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    counts = (
        f"{len(graph.datasets)} datasets · {len(graph.jobs)} jobs · {len(graph.runs)} runs · "
        f"{len(index.rows):,} embedding ids indexed · generated {generated}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body data-ready="false">
<header><h1>{escape(title)}</h1>
<input id="search" type="search" placeholder="table, job or embedding id" aria-label="search tables, jobs, embeddings">
<span id="search-status" class="meta"></span><span class="meta">{escape(counts)}</span></header>
<main>{empty}{notes_html}
<div id="embedding-result" hidden></div>
<div id="graph-wrap">{_svg(graph)}</div>
<div id="details" hidden></div>
<h2>Runs</h2>{_runs_table(graph)}
<h2>Datasets: snapshot versions and column lineage</h2>{_datasets_section(graph)}
</main>
<script type="application/json" id="lineage-data">{payload}</script>
<script>{SCRIPT}</script>
</body></html>
"""
