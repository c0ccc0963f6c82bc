"""The lineage review page rendered by headless Chromium (Debian's ``chromium``), from the events of real job runs.

Chromium loads the page (the file ``lakehouse lineage graph`` writes, and ``GET /lineage`` of the catalog service),
runs its script, and the test reads the resulting DOM (``--dump-dom``) and takes a screenshot. A search travels in
the URL (``#q=...``), which the page applies on load exactly as if typed into the search box.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from lakehouse.catalog_client.connection import connect_catalog
from lakehouse.cli.lineage import lineage_group
from lakehouse.config import LineageSettings, Settings
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.ingest.demo import build_pydoc_corpus
from lakehouse.ingest.job import IngestParams
from lakehouse.ingest.job import run as run_ingest
from lakehouse.lineage import LineageEmitter, file_input
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

NS = "lineage_page"
DOCS, EMB = f"{NS}.documents", f"{NS}.embeddings"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium): page not rendered"
)


# -- a browser and a DOM ------------------------------------------------------------------------------------------
class Browser:
    def __init__(self, executable: str, profile: Path) -> None:
        self.command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
        ]

    def _run(self, *args: str) -> str:
        done = subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=90, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def dom(self, url: str) -> Dom:
        return Dom(self._run("--virtual-time-budget=3000", "--dump-dom", url))

    def screenshot(self, url: str, png: Path) -> None:
        self._run("--window-size=1400,900", f"--screenshot={png}", url)


class Dom(HTMLParser):
    """Every element's tag and attributes, and the text under each element that has an id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag not in ("input", "br", "meta", "path", "circle", "rect"):
            self._open.append(a.get("id"))
            if a.get("id"):
                self.text[a["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("input", "br", "meta", "path", "circle", "rect") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for i in self._open:
            if i:
                self.text[i] += data

    def nodes(self, kind: str | None = None) -> dict[str, set[str]]:
        """``{data-name: classes}`` of the graph's nodes (of ``kind``: dataset or job)."""
        return {
            a["data-name"]: set(a["class"].split())
            for tag, a in self.elements
            if tag == "g" and "node" in a.get("class", "").split() and (kind is None or a["data-kind"] == kind)
        }

    def attrs(self, element_id: str) -> dict[str, str]:
        return next(a for _, a in self.elements if a.get("id") == element_id)


# -- real runs ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    settings: Settings
    file: Path
    service_uri: str
    embeddings: list[dict[str, object]]


@pytest.fixture(scope="module")
def page(
    spark,
    lake_settings: Settings,
    catalog_service,
    tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
) -> Page:
    root = tmp_path_factory.mktemp("lineage-page")
    corpus = root / "corpus"
    build_pydoc_corpus(corpus, modules=["bisect", "heapq", "shlex"])
    settings = dataclasses.replace(
        lake_settings, state_dir=root / "state", lineage=LineageSettings(url=catalog_service.uri)
    )
    emitter = LineageEmitter.from_settings(settings, environ={}, strict=True, cwd=root)
    with emitter.run("demo", inputs=[file_input(corpus)]) as demo:
        run_ingest(spark, IngestParams(corpus, DOCS), settings, log=lambda _m: None, parent=demo)
        params = EmbedParams(source=DOCS, output=EMB, model="hash-64", chunk_size=400, chunk_overlap=40)
        run_embed(spark, params, settings, log=lambda _m: None, parent=demo)
    emitter.close()
    out = root / "lineage.html"
    result = CliRunner().invoke(
        lineage_group, ["graph", "--out", str(out)], obj={"settings_factory": lambda **_kw: settings}
    )
    assert result.exit_code == 0, result.output
    rows = (
        VectorTable.load(EMB, settings=settings)
        .to_arrow(columns=["embedding_id", "source_key", "chunk_start", "chunk_end"])
        .to_pylist()
    )
    return Page(settings, out, catalog_service.uri, rows)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    yield Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))


# -- the page -----------------------------------------------------------------------------------------------------
@needs_chromium
def test_the_page_draws_datasets_jobs_runs_and_column_lineage(page: Page, browser: Browser) -> None:
    dom = browser.dom(page.file.as_uri())
    assert dom.attrs("lineage-data") and "true" == next(a["data-ready"] for t, a in dom.elements if t == "body")
    datasets, jobs = dom.nodes("dataset"), dom.nodes("job")
    assert {DOCS, EMB} <= set(datasets)
    assert "embeddings" in datasets[EMB] and "embeddings" not in datasets[DOCS]
    assert {"demo", "ingest_documents", "embed_table"} <= set(jobs)
    kinds = {a["class"] for t, a in dom.elements if t == "path" and "edge" in a.get("class", "")}
    assert {"edge input", "edge output", "edge parent"} <= kinds
    # every run is a dot on its job, coloured by state; every run has a row
    assert any(t == "circle" and a["class"] == "run COMPLETE" for t, a in dom.elements)
    runs_text = dom.text["runs"]
    assert "embed_table" in runs_text and "ingest_documents" in runs_text and "COMPLETE" in runs_text
    snapshot = str(VectorTable.load(DOCS, settings=page.settings).snapshot_id)
    assert snapshot in dom.text["graph"]  # the documents node shows the snapshot the embed run read
    lineage = [a for t, a in dom.elements if t == "tr" and a.get("class") == "column-lineage"]
    assert lineage, "the embeddings table lists its column lineage"
    assert f"{DOCS}.text" in dom.html and "chunk_text(chunk_size=400, overlap=40) -&gt; hash-64" in dom.html


@needs_chromium
def test_the_search_box_filters_to_a_table(page: Page, browser: Browser) -> None:
    dom = browser.dom(page.file.as_uri() + "#q=" + quote(EMB))
    nodes = dom.nodes()
    assert "hit" in nodes[EMB] and "dim" not in nodes[EMB]
    assert all("dim" in classes for name, classes in nodes.items() if EMB not in name)
    hidden = [a for t, a in dom.elements if t == "tr" and "run-row" in a.get("class", "") and "hidden" in a["class"]]
    shown = [a for t, a in dom.elements if t == "tr" and "run-row" in a.get("class", "") and "hidden" not in a["class"]]
    assert hidden and shown, "runs that do not touch the table are filtered out of the runs table"
    assert "1 node(s) match" in dom.text["search-status"]


@needs_chromium
def test_the_search_box_finds_an_embedding_id(page: Page, browser: Browser) -> None:
    row = page.embeddings[len(page.embeddings) // 2]
    dom = browser.dom(page.file.as_uri() + "#q=" + str(row["embedding_id"]))
    assert "hidden" not in dom.attrs("embedding-result")
    found = dom.text["embedding-result"]
    assert str(row["source_key"]) in found and f"[{row['chunk_start']}:{row['chunk_end']}]" in found
    assert DOCS in found and EMB in found
    nodes = dom.nodes()
    assert "hit" in nodes[DOCS] and "hit" in nodes[EMB] and "dim" in nodes["embed_table"]
    missing = browser.dom(page.file.as_uri() + "#q=ffffffffffffffff")
    assert "hidden" in missing.attrs("embedding-result")
    assert "no such embedding id" in missing.text["search-status"]


@needs_chromium
def test_a_screenshot_of_the_page_shows_the_graph(page: Page, browser: Browser, tmp_path: Path) -> None:
    from PIL import Image

    png = tmp_path / "lineage.png"
    browser.screenshot(page.file.as_uri() + "#q=embed", png)
    with Image.open(png) as image:
        assert image.size == (1400, 900)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, "a blank page has a handful of colours"
    # the highlight colour of a search hit is on screen
    assert any(abs(r - 0xFF) < 8 and abs(g - 0xCF) < 8 and abs(b - 0x33) < 8 for _, (r, g, b) in colours)


# -- the catalog service ------------------------------------------------------------------------------------------
def test_the_service_accepts_lineage_events_and_rejects_non_events(page: Page) -> None:
    event = json.loads(page.settings.lineage_path.read_text().splitlines()[0])
    event["run"]["runId"] = "01890a5d-ac96-774b-bcce-b302099a8057"
    auth = connect_catalog(page.settings).headers()
    posted = httpx.post(f"{page.service_uri}/api/v1/lineage", json=event, headers=auth, timeout=30)
    assert posted.status_code == 201
    run = httpx.get(f"{page.service_uri}/api/v1/lineage/runs/{event['run']['runId']}", headers=auth, timeout=30)
    assert run.status_code == 200
    bad = httpx.post(f"{page.service_uri}/api/v1/lineage", json={"eventType": "START"}, headers=auth, timeout=30)
    assert bad.status_code == 422 and "'run' is a required property" in bad.text


def test_the_service_serves_the_page(page: Page) -> None:
    answer = httpx.get(f"{page.service_uri}/lineage", headers=connect_catalog(page.settings).headers(), timeout=60)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert DOCS in answer.text and EMB in answer.text
    assert str(page.embeddings[0]["embedding_id"]) in answer.text  # the service indexes embedding ids too


@needs_chromium
def test_chromium_renders_the_served_page(page: Page, browser: Browser) -> None:
    # a browser sends no Authorization header: the page takes a (read-only) token in the URL
    token = connect_catalog(page.settings, read_only=True).fetch_token()
    dom = browser.dom(f"{page.service_uri}/lineage?access_token={quote(token)}#q={quote(DOCS)}")
    nodes = dom.nodes()
    assert {DOCS, EMB, "embed_table"} <= set(nodes)
    assert "hit" in nodes[DOCS] and "dim" in nodes["embed_table"]
