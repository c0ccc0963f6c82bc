"""A real, offline demo corpus: the Python standard library's own documentation, rendered by ``pydoc``.

Each top-level stdlib module becomes ``<module>.txt`` (pydoc's plain-text renderer); every ``html_every``-th
module is also written as ``<module>.html`` (``pydoc.HTMLDoc``) so the corpus exercises the HTML path too.
Each module is rendered in its own isolated subprocess (``python -I``) with a timeout, so an import that hangs,
crashes or has side effects cannot hurt the caller; such modules are skipped. A manifest records what was built:
a second call with the same (Python version, limit, html_every, modules) returns at once.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lakehouse.errors import IngestError

MANIFEST = ".pydoc-corpus.json"
MANIFEST_FORMAT = 1

# Side effects on import (browser, printing, GUI), IDE/GUI packages, and the regression-test suite.
EXCLUDED = frozenset(
    {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "test", "xxlimited",
     "xxlimited_35", "xxsubtype", "msilib", "winreg", "winsound", "msvcrt", "nt", "ensurepip", "pydoc_data"}
)  # fmt: skip

# Runs in a fresh ``python -I -W ignore``: argv = module, dest, "1" to also write HTML.
_WORKER = r"""
import contextlib, io, os, pydoc, sys
name, dest, want_html = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with contextlib.redirect_stdout(io.StringIO()):
    module = __import__(name)
    text = pydoc.render_doc(module, renderer=pydoc.plaintext)
    page = pydoc.html.page(pydoc.describe(module), pydoc.html.document(module, name)) if want_html else None
def write(path, content):
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(content)
    os.replace(path + ".tmp", path)
write(os.path.join(dest, name + ".txt"), text)
if page is not None:
    write(os.path.join(dest, name + ".html"), page)
"""


@dataclass
class CorpusInfo:
    dest: Path
    python_version: str
    limit: int | None
    html_every: int
    modules: list[str]  # documented, sorted
    files: list[str]  # file names under dest
    total_bytes: int
    skipped: dict[str, str] = field(default_factory=dict)  # module -> reason
    seconds: float = 0.0
    cached: bool = False  # True when an existing complete corpus was reused

    @property
    def total_mb(self) -> float:
        return self.total_bytes / 1e6


def stdlib_modules() -> list[str]:
    """Top-level public stdlib modules, sorted, minus :data:`EXCLUDED`."""
    return sorted(m for m in sys.stdlib_module_names if not m.startswith("_") and m not in EXCLUDED)


def _python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def _render(module: str, dest: Path, want_html: bool, timeout: float) -> str | None:
    """None on success, else why the module was skipped."""
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-B", "-W", "ignore", "-c", _WORKER, module, str(dest), "1" if want_html else "0"],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g} s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return last[:300]
    return None


def _cached(dest: Path, key: dict[str, object]) -> CorpusInfo | None:
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key or not all((dest / f).is_file() for f in manifest.get("files", [])):
        return None
    info = manifest["info"]
    return CorpusInfo(**{**info, "dest": dest, "cached": True})


def build_pydoc_corpus(
    dest: str | os.PathLike[str],
    *,
    limit: int | None = None,
    html_every: int = 3,
    modules: Sequence[str] | None = None,
    timeout: float = 60.0,
    workers: int | None = None,
) -> CorpusInfo:
    """Write pydoc pages of the stdlib (or of ``modules``) under ``dest``; reuse a complete earlier build.

    ``limit`` caps the number of modules documented (modules that fail to import do not count).
    ``html_every=0`` writes no HTML.

    >>> info = build_pydoc_corpus("/tmp/pydoc-demo", limit=12)   # doctest: +SKIP
    >>> info.files[:3]                                            # doctest: +SKIP
    ['abc.html', 'abc.txt', 'aifc.txt']
    """
    if limit is not None and limit < 1:
        raise IngestError(f"limit must be >= 1 or None, got {limit}")
    if html_every < 0:
        raise IngestError(f"html_every must be >= 0, got {html_every}", hint="0 writes no HTML")
    out = Path(dest).expanduser()
    candidates = sorted(set(modules)) if modules is not None else stdlib_modules()
    key: dict[str, object] = {
        "format": MANIFEST_FORMAT,
        "python": _python_version(),
        "limit": limit,
        "html_every": html_every,
        "modules": None if modules is None else candidates,
    }
    if (hit := _cached(out, key)) is not None:
        return hit
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # an interrupted rebuild must not look complete

    target = len(candidates) if limit is None else min(limit, len(candidates))
    documented: list[str] = []
    skipped: dict[str, str] = {}
    pos = 0
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        # Render in waves sized to what is still missing, so `limit` does not pay for modules it won't use.
        while len(documented) < target and pos < len(candidates):
            wave = candidates[pos : pos + (target - len(documented))]
            pos += len(wave)
            # HTML for every html_every-th attempted module keeps the choice independent of import failures.
            index = {m: candidates.index(m) for m in wave}
            results = pool.map(
                lambda m, index=index: _render(m, out, bool(html_every) and index[m] % html_every == 0, timeout),
                wave,
            )
            for module, reason in zip(wave, results, strict=True):
                if reason is None:
                    documented.append(module)
                else:
                    skipped[module] = reason
    documented.sort()
    if not documented:
        raise IngestError("pydoc could not document any module", hint=f"reasons: {skipped}")
    files = sorted(p.name for m in documented for p in (out / f"{m}.txt", out / f"{m}.html") if p.is_file())
    info = CorpusInfo(
        dest=out,
        python_version=_python_version(),
        limit=limit,
        html_every=html_every,
        modules=documented,
        files=files,
        total_bytes=sum((out / f).stat().st_size for f in files),
        skipped=skipped,
        seconds=round(time.perf_counter() - started, 3),
    )
    record = {k: v for k, v in asdict(info).items() if k not in {"dest", "cached"}}
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"key": key, "files": files, "info": record}, indent=1), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)  # written last: its presence means the corpus is complete
    return info
