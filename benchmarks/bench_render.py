"""One centre's PDF report against a plain WeasyPrint document, warm, in one process.

    python benchmarks/bench_render.py [--runs N] [--reference-runs K]

Reference: three A4 pages of Chinese prose (the requirement texts of the bundled
rule sets, repeated) in the system's Noto Sans CJK SC, rendered by a plain
``weasyprint.HTML(string=…).write_pdf()`` in the same run, with HarfBuzz's
subsetter installed. That is what any three pages of Chinese cost here; the
host's speed drifts between runs, so only a ratio taken in one run means anything.

Target: a report's median time is no more than the reference's median
(ratio ≤ 1.0), and a PDF is at most 200 KB.

The inspection case is a filed inspection report with ten 12-megapixel photos
(4000 × 3000 JPEGs made here) in its evidence appendix and the sign-off block. Its
first render, which makes the ten thumbnails (480 px, once per process), is timed
on its own ("first"); the median is of the renders after, as a round's reports
reuse the thumbnails. Its target is the reference's time per page (a report of
four pages may take 4/3 of the three pages'); its size is reported, not held to
200 KB: the photos are in it.
"""
from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import compliance

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.0
TARGET_BYTES = 200_000


def reference_text() -> list[str]:
    """Paragraphs of Chinese prose from the repository's own rule sets."""
    paragraphs = []
    for name in ("national", "ningbo", "yinzhou", "beijing"):
        rules = compliance.load_ruleset(name)
        paragraphs.append(f"{rules.title['zh']}：" + "".join(c.requirement["zh"] for c in rules.clauses))
    return paragraphs


def reference_html(paragraphs: list[str]) -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return ("<html><head><style>@page { size: A4; margin: 2cm } "
            "body { font-family: 'Noto Sans CJK SC'; font-size: 10.5pt; line-height: 1.6 }"
            f"</style></head><body><h1>参考文档</h1>{body}</body></html>")


def three_pages() -> str:
    """The reference document grown to exactly three pages."""
    import weasyprint

    base = reference_text()
    paragraphs = list(base)
    while len(weasyprint.HTML(string=reference_html(paragraphs)).render().pages) < 3:
        paragraphs += base
    while len(weasyprint.HTML(string=reference_html(paragraphs)).render().pages) > 3:
        last = paragraphs.pop()
        half = last[: len(last) // 2]
        if len(weasyprint.HTML(string=reference_html(paragraphs + [half])).render().pages) == 3:
            paragraphs.append(half)
    return reference_html(paragraphs)


def _pages(pdf: bytes) -> int:
    """Pages of a PDF, read back with poppler's pdfinfo (0 where it is not installed)."""
    import subprocess

    try:
        out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return 0
    found = re.search(r"Pages:\s+(\d+)", out)
    return int(found.group(1)) if found else 0


def inspection_with_photos(folder: Path, photos: int = 10) -> Path:
    """An inspection of the Haiyue centre with ``photos`` 12-megapixel JPEGs of a photo's texture (a gradient and
    sensor noise, about 2 MB each) as evidence, in ``folder``."""
    import yaml
    from PIL import Image

    doc = yaml.safe_load((ROOT / "examples" / "haiyue.yaml").read_text(encoding="utf-8"))
    doc = {**doc, "audit": {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳",
                            "round": "2026-yinzhou"}}
    (folder / "photos").mkdir()
    clauses = ["4.1", "4.4", "5.5", "5.6", "6.1", "7.1", "8.1", "8.3", "8.5", "8.7"]
    evidence: dict[str, list[dict[str, str]]] = {}
    for i in range(photos):
        size = (4000, 3000)
        noise = Image.effect_noise(size, 24)
        base = Image.linear_gradient("L").resize(size)
        image = Image.merge("RGB", (Image.blend(base, noise, 0.35), noise, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        image.save(folder / "photos" / f"site-{i}.jpg", quality=85)
        evidence.setdefault(clauses[i % len(clauses)], []).append(
            {"file": f"photos/site-{i}.jpg", "note": f"现场照片 {i + 1}", "taken_on": "2026-11-20"})
    doc["evidence"] = evidence
    path = folder / "inspection.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def timed(fn, runs: int) -> list[tuple[float, float]]:
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
    ap.add_argument("--reference-runs", type=int, default=15)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})   # one core, as a batch worker runs

    ref_html = three_pages()
    ref_pages = len(weasyprint.HTML(string=ref_html).render().pages)
    weasyprint.HTML(string=ref_html).write_pdf()                             # warm: fonts found and loaded
    cases = []
    for name, rules in (("dandinghe-old-compound.yaml", "yinzhou"), ("haiyue.yaml", "national")):
        result = compliance.evaluate(compliance.load_profile(ROOT / "examples" / name), rules)
        for lang in ("zh", "en"):
            pdf = compliance.render(result, "pdf", lang=lang)                  # warm: stylesheet and fonts loaded
            assert isinstance(pdf, bytes)
            pages = _pages(pdf)
            cases.append((f"{name} {lang}", result, lang, len(pdf), pages))

    folder = Path(tempfile.mkdtemp(prefix="bench-render-"))
    inspection = compliance.evaluate(compliance.read_evidence(compliance.load_profile(inspection_with_photos(folder))))
    photo_bytes = sum(item.size or 0 for item in inspection.evidence)
    (first_wall, first_cpu), = timed(lambda: compliance.render(inspection, "pdf", lang="zh"), 1)   # makes the thumbnails
    pdf = compliance.render(inspection, "pdf", lang="zh")
    photo_case = (f"inspection, {len(inspection.evidence)} photos zh", inspection, "zh", len(pdf), _pages(pdf))

    # Interleave the reference and the reports so that a drift in the host's speed hits both alike.
    reference: list[tuple[float, float]] = []
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in cases}
    for _ in range(max(args.runs, args.reference_runs)):
        reference += timed(lambda: weasyprint.HTML(string=ref_html).write_pdf(), 1)
        for label, result, lang, _, _ in cases:
            times[label] += timed(lambda: compliance.render(result, "pdf", lang=lang), 1)
        times.setdefault(photo_case[0], []).extend(timed(lambda: compliance.render(inspection, "pdf", lang="zh"), 1))

    ref_median = statistics.median(w for w, _ in reference)
    print(f"reference ({ref_pages} pages of Chinese, system Noto Sans CJK SC): median {ref_median:.3f} s "
          f"(min {min(w for w, _ in reference):.3f}, max {max(w for w, _ in reference):.3f}; "
          f"CPU {statistics.median(c for _, c in reference):.3f})")
    ok = True
    for label, _, _, size, pages in cases:
        walls = [w for w, _ in times[label]]
        median = statistics.median(walls)
        ratio = median / ref_median
        good = ratio <= TARGET_RATIO and size <= TARGET_BYTES
        ok &= good
        print(f"{label:30s} {pages} pages  median {median:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}; "
              f"CPU {statistics.median(c for _, c in times[label]):.3f})  {ratio:.2f}× reference  "
              f"{size / 1024:.0f} KB  {'ok' if good else 'OVER'}")
    label, _, _, size, pages = photo_case
    walls = [w for w, _ in times[label]]
    median = statistics.median(walls)
    per_page = median / ref_median * ref_pages / max(pages, 1)
    good = per_page <= TARGET_RATIO
    ok &= good
    print(f"{label:30s} {pages} pages  median {median:.3f} s (min {min(walls):.3f}, max {max(walls):.3f}; "
          f"CPU {statistics.median(c for _, c in times[label]):.3f})  {median / ref_median:.2f}× reference, "
          f"{per_page:.2f}× a page  {size / 1024:.0f} KB  {'ok' if good else 'OVER'}")
    print(f"{'':30s} first render, making the thumbnails of {photo_bytes / 1e6:.1f} MB of photos: {first_wall:.3f} s "
          f"(CPU {first_cpu:.3f})")
    print(f"targets: ≤ {TARGET_RATIO:.1f}× the reference in the same run (the inspection: a page), "
          f"≤ {TARGET_BYTES // 1000} KB: "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
