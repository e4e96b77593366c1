"""The report's trials table: sortable by any column, filterable by text and state, each row linked to
its run in the MLflow UI, a failed trial's full error folded under its first line.

The links follow the MLflow UI the reader uses: the address in the page's "MLflow UI at" field (given with
``ui_url``, else the tracking server, else where ``mlflow ui`` serves a SQLite store by default), replaced by
the UI's own address when the page is shown inside MLflow's artifact viewer, or by what the reader types there
(remembered by the browser where it may store it).

Plain HTML and a few lines of inline JavaScript (``TABLE_JS``): no library, nothing loaded.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from pipeline.results.insights.history import SweepHistory, TrialRow
from pipeline.tracking import names
from pipeline.tracking.store import split_credentials

LOCAL_UI = "http://127.0.0.1:5000"  # where ``mlflow ui`` serves a SQLite store by default (make ui)

TABLE_JS = r"""
function sortTable(th){const t=th.closest('table'),b=t.tBodies[0],i=[...th.parentNode.children].indexOf(th);
const asc=th.dataset.dir!=='asc';
[...th.parentNode.children].forEach(h=>{delete h.dataset.dir});th.dataset.dir=asc?'asc':'desc';
const key=r=>{const c=r.children[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent,n=parseFloat(v);
return v!==''&&!isNaN(n)&&isFinite(v)?[0,n]:[v===''?2:1,v.toLowerCase()]};
const rows=[...b.rows];rows.sort((a,c)=>{const x=key(a),y=key(c);if(x[0]!==y[0])return x[0]-y[0];
return (x[1]<y[1]?-1:x[1]>y[1]?1:0)*(asc?1:-1)});rows.forEach(r=>b.appendChild(r))}
function filterTable(id){const t=document.getElementById(id),q=document.getElementById(id+'-q').value.toLowerCase(),
s=document.getElementById(id+'-state').value;let shown=0;for(const r of t.tBodies[0].rows){
const ok=(!s||r.dataset.state===s)&&(!q||r.textContent.toLowerCase().includes(q));
r.style.display=ok?'':'none';shown+=ok}
document.getElementById(id+'-n').textContent=shown+' of '+t.tBodies[0].rows.length+' trials'}
function setUi(base,keep){base=base.trim().replace(/\/+$/,'');if(!/^https?:\/\/[^\s]+$/.test(base))return false;
document.querySelectorAll('a[data-run]').forEach(a=>{a.href=base+'/'+a.dataset.run});
const f=document.getElementById('ui-url');if(f&&f.value!==base)f.value=base;
if(keep){try{localStorage.setItem('mlflow-ui',base)}catch(e){}}return true}
function viewerUi(){try{if(location.protocol==='about:'||location.origin==='null'){
const u=new URL(document.baseURI);if(/^https?:$/.test(u.protocol))return u.origin+u.pathname}}catch(e){}return null}
document.addEventListener('DOMContentLoaded',()=>{let kept=null;try{kept=localStorage.getItem('mlflow-ui')}catch(e){}
const v=viewerUi();if(v)setUi(v,false);else if(kept)setUi(kept,false)});
"""
TABLE_ID = "trials-table"  # the section around it is #trials (the page's link to it)
# A figure's points open their run on a click, in the MLflow UI the page's run links point to (``TABLE_JS`` keeps
# them on the reader's UI): each point's ``customdata`` is its ``run_path``. Plotly runs this after drawing the
# figure, ``{plot_id}`` its div.
OPEN_RUN_JS = ("document.getElementById('{plot_id}').on('plotly_click',function(e){"
               "var p=e.points.length&&e.points[0].customdata,a=document.querySelector('a[data-run]');"
               "if(!p||!a)return;var h=a.getAttribute('href');"
               "window.open(h.slice(0,h.length-a.dataset.run.length)+p,'_blank','noopener')});")


def ui_base(uri: str, ui_url: str | None = None) -> str:
    """The MLflow UI the links open: ``ui_url`` if given, the tracking server itself for an http(s) store
    (without any credentials in the URI), else where ``mlflow ui`` serves the store locally."""
    if ui_url:
        return split_credentials(ui_url)[0].rstrip("/")
    return split_credentials(uri)[0].rstrip("/") if urlparse(uri).scheme in ("http", "https") else LOCAL_UI


def run_path(experiment_id: str, run_id: str) -> str:
    return f"#/experiments/{experiment_id}/runs/{run_id}"


def run_url(uri: str, experiment_id: str, run_id: str, ui_url: str | None = None) -> str:
    """The run's page in the MLflow UI (``ui_base``)."""
    return f"{ui_base(uri, ui_url)}/{run_path(experiment_id, run_id)}"


def ui_control(uri: str, ui_url: str | None = None) -> str:
    """The field that sets the MLflow UI every run link of the page opens."""
    return (f'<p class="controls"><label>MLflow UI at <input id="ui-url" type="url" value="{_e(ui_base(uri, ui_url))}" '
            'onchange="if(!setUi(this.value,true))this.setCustomValidity(\'expected http(s)://host:port\');'
            'else this.setCustomValidity(\'\')"></label> <span class="note">the address of your MLflow UI '
            '(mlflow ui / make ui): every run link follows it</span></p>')


def trials_table(history: SweepHistory, uri: str, table_id: str = TABLE_ID, ui_url: str | None = None) -> str:
    """The table with its filter controls; one row per trial, in trial order."""
    test = history.test_key
    columns = ["trial", "state", history.label, "cv std", *([test] if test else []), *history.space.names,
               "started (UTC)", "seconds", "run", "error"]
    head = "".join(f'<th onclick="sortTable(this)" title="sort">{_e(c)}</th>' for c in columns)
    body = "".join(_row(history, r, ui_base(uri, ui_url)) for r in history.trials)
    states = "".join(f'<option value="{s}">{s} ({n})</option>' for s, n in history.counts().items() if n)
    controls = (f'<p class="controls"><input id="{table_id}-q" type="search" placeholder="filter: any text" '
                f'oninput="filterTable(\'{table_id}\')"> <select id="{table_id}-state" '
                f'onchange="filterTable(\'{table_id}\')"><option value="">every state</option>{states}</select> '
                f'<span id="{table_id}-n">{len(history.trials)} trials</span> '
                '<span class="note">click a column to sort</span></p>')
    return (f'{controls}<table id="{table_id}" class="trials"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table>')


def _row(history: SweepHistory, r: TrialRow, base: str) -> str:
    seconds = (r.end_ms - r.start_ms) / 1000 if r.end_ms is not None and r.start_ms is not None else None
    cells = [_cell(r.number), _cell(r.state), _cell(r.value), _cell(r.cv_std),
             *([_cell(history.test_score(r))] if history.test_key else []),
             *(_cell(r.params.get(n)) for n in history.space.names),
             _cell(_utc(r.start_ms), r.start_ms), _cell(None if seconds is None else round(seconds, 1)),
             _link(base, history.experiment_id, r.run_id), _error(r.error)]
    return f'<tr data-state="{_e(r.state)}" class="{_e(r.state)}">{"".join(cells)}</tr>'


def _cell(value: Any, sort_key: Any = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        text = "" if value is None else str(value)
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    key = sort_key if sort_key is not None else (repr(value) if isinstance(value, float) else None)
    attr = f' data-v="{_e(key)}"' if key is not None else ""
    return f"<td{attr}>{_e(text)}</td>"


def _link(base: str, experiment_id: str, run_id: str) -> str:
    if not run_id:
        return "<td></td>"
    return f'<td data-v="{_e(run_id)}">{run_link(base, experiment_id, run_id, run_id[:8])}</td>'


def run_link(base: str, experiment_id: str, run_id: str, text: str) -> str:
    """A link to the run in the MLflow UI at ``base`` (``ui_base``); the page's field rewrites it (``TABLE_JS``)."""
    path = run_path(experiment_id, run_id)
    return (f'<a href="{_e(base)}/{_e(path)}" data-run="{_e(path)}" target="_blank" rel="noopener" '
            f'title="open in the MLflow UI">{_e(text)}</a>')


def _error(text: str) -> str:
    """A failed trial's error (tag ``run_record.ERROR_TAG``): its last line shown, all of it unfolded."""
    if not text:
        return "<td></td>"
    lines = [line for line in text.strip().splitlines() if line.strip()] or [text]
    summary = lines[-1] if len(lines) > 1 else lines[0]
    if len(lines) == 1:
        return f'<td class="error" title="tag {_e(names.ERROR_TAG)}">{_e(summary)}</td>'
    return (f'<td class="error"><details><summary>{_e(summary)}</summary><pre>{_e(text)}</pre></details></td>')


def _utc(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
