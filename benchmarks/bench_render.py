"""One centre's PDF report: warm, in-process render time against a WeasyPrint reference.

    python benchmarks/bench_render.py [--runs N] [--reference-runs K]

Reference: a three-page Chinese document (the text of seed article 000) set in
the system's Noto Sans CJK SC, rendered by WeasyPrint in the same run. That is
what a report costs when it simply names the system CJK font: WeasyPrint then
subsets the full 65,535-glyph font for every document.

Targets: median ≤ 0.5 s, ≤ 0.25 × the reference's median, PDF ≤ 200 KB.
"""
from __future__ import annotations

import argparse
import html
import os
import statistics
import sys
import time
from pathlib import Path

import compliance

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seeds" / "000_e9af27b8c250ac8d.txt"
FALLBACK_TEXT = "社区是城市的基本单元，也是人们生活的家园。鄞州以品质对标社区标准化建设。" * 200


def reference_html(pages: int = 3) -> str:
    text = SEED.read_text(encoding="utf-8") if SEED.exists() else FALLBACK_TEXT
    paragraphs = [p.strip() for p in text.splitlines() if p.strip()]
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return ("<html><head><style>@page { size: A4; margin: 2cm } "
            "body { font-family: 'Noto Sans CJK SC'; font-size: 10.5pt; line-height: 1.6 }"
            f".end {{ break-before: page }}</style></head><body><h1>参考文档</h1>{body}</body></html>"), pages


def three_pages(doc_html: str) -> str:
    """Trim the reference to exactly three pages."""
    import weasyprint

    paragraphs = doc_html.split("<p>")
    head, body = paragraphs[0], paragraphs[1:]
    while body:
        candidate = head + "<p>" + "<p>".join(body)
        if len(weasyprint.HTML(string=candidate).render().pages) <= 3:
            return candidate
        body = body[:-1]
    return doc_html


def timed(fn, runs: int) -> list[float]:
    return [pair[0] for pair in timed_both(fn, runs)]


def timed_both(fn, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per run: the CPU figure shows the work when the host's speed drifts."""
    out = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def main() -> int:
    import weasyprint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--reference-runs", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})   # one core, as a batch worker runs

    ref_html = three_pages(reference_html()[0])
    ref_pages = len(weasyprint.HTML(string=ref_html).render().pages)
    reference = timed(lambda: weasyprint.HTML(string=ref_html).write_pdf(), args.reference_runs)

    rows = []
    for name, rules in (("dandinghe-old-compound.yaml", "yinzhou"), ("haiyue.yaml", "national")):
        result = compliance.evaluate(compliance.load_profile(ROOT / "examples" / name), rules)
        for lang in ("zh", "en"):
            compliance.render(result, "pdf", lang=lang)                      # warm: fonts and stylesheet loaded
            pdf = compliance.render(result, "pdf", lang=lang)
            pairs = timed_both(lambda: compliance.render(result, "pdf", lang=lang), args.runs)
            times = [w for w, _ in pairs]
            cpu = statistics.median(c for _, c in pairs)
            rows.append((f"{name} {lang}", statistics.median(times), min(times), max(times), len(pdf), cpu))

    ref_median = statistics.median(reference)
    print(f"reference ({ref_pages} pages, system Noto Sans CJK SC): median {ref_median:.2f} s "
          f"(min {min(reference):.2f}, max {max(reference):.2f}, {args.reference_runs} runs)")
    ok = True
    for label, median, low, high, size, cpu in rows:
        ratio = median / ref_median
        good = median <= 0.5 and ratio <= 0.25 and size <= 200_000
        ok &= good
        print(f"{label:34s} median {median:.3f} s (min {low:.3f}, max {high:.3f}; CPU {cpu:.3f})  "
              f"{ratio:.3f}× reference  {size / 1024:.0f} KB  {'ok' if good else 'OVER'}")
    print(f"targets: median ≤ 0.5 s, ≤ 0.25× reference, ≤ 200 KB: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
