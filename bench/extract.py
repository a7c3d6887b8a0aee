"""Extraction benchmarks: time and peak memory for a 100 KB text and a 20-page PDF, and the
accuracy on the hand-annotated gold lists.

    python bench/extract.py              # all cases, each in a fresh process (~20 s)
    python bench/extract.py --case pdf20 # one case

Targets (README, Benchmarks): a 100 KB text in under 1 s, a 20-page PDF in under 3 s, peak
memory under 200 MB. Each case runs in its own process, so the peak resident set it reports
is that of a `timeline extract` run (the interpreter and the libraries included); the time
is the median of 5 runs after one warm-up, from bytes to candidate events.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "extract"
sys.path.insert(0, str(ROOT))  # tests/ holds the notices and the PDF maker


def _text_100k() -> bytes:
    notices = [p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.txt"))]
    text, number = "", 0
    while len(text.encode()) < 100 * 1024:
        text += notices[number % len(notices)] + "\n\n"
        number += 1
    return text.encode()


def _pdf_20() -> bytes:
    from tests.extract_inputs import as_pdf

    return as_pdf((DATA / "work-schedule.txt").read_text(encoding="utf-8"), pages=20)


def _html() -> bytes:
    return (DATA / "html" / "gov-notice.html").read_bytes()


CASES = {"text100k": _text_100k, "pdf20": _pdf_20, "html": _html}


def run_case(name: str) -> dict[str, object]:
    from timeline.extract import extract

    data = CASES[name]()
    extraction = extract(data, name)  # warm-up: imports, compiled patterns
    times = []
    for _ in range(5):
        start = time.perf_counter()
        extraction = extract(data, name)
        times.append(time.perf_counter() - start)
    return {"case": name, "bytes": len(data), "characters": len(extraction.document.text),
            "pages": extraction.document.pages, "candidates": len(extraction.candidates),
            "skipped": len(extraction.skipped), "median_s": statistics.median(times),
            "max_s": max(times),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES))
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    print(f"{'case':<10} {'size':>9} {'pages':>5} {'cand.':>5} {'median':>8} {'max':>8} "
          f"{'peak RSS':>9}")
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                             text=True, check=True).stdout
        row = json.loads(out)
        print(f"{name:<10} {row['bytes'] // 1024:>6} KB {row['pages'] or '':>5} "
              f"{row['candidates']:>5} {row['median_s']:>7.3f}s {row['max_s']:>7.3f}s "
              f"{row['peak_rss_mb']:>6.0f} MB")
    print()
    from tests.extract_score import NOTICES
    from tests.extract_score import main as score

    return score(list(NOTICES))


if __name__ == "__main__":
    sys.exit(main())
