"""Synthetic bundles for benchmarks and scale tests: many indicators, many observations,
each with real evidence (a sentence of an article body, with its offsets).

    python -m bench.data OUT.json --indicators 1000 --observations 1000000
"""

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PER_ARTICLE = 1000  # observations quoted from one article


def periods(count: int) -> list[str]:
    """``count`` monthly periods, from 1950-01 on."""
    return [f"{1950 + m // 12}-{m % 12 + 1:02d}" for m in range(count)]


def bundle_parts(
    indicators: int, observations: int, *, seed: int = 7
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The small parts of the bundle, and the observations as a stream (with their articles
    yielded as part of the head, since every observation needs one)."""
    rng = random.Random(seed)
    per_indicator = max(1, observations // indicators)
    months = periods(per_indicator)
    head: dict[str, Any] = {
        "sectors": [
            {
                "slug": f"bench-sector-{s}",
                "name": f"Bench sector {s}",
                "description": "A synthetic sector for benchmarks.",
            }
            for s in range(20)
        ],
        "indicators": [
            {
                "slug": f"bench-indicator-{i}",
                "name": f"Bench indicator {i}",
                "description": f"Synthetic series number {i}, in percent.",
                "unit": "percent",
                "geography": "CHN",
                "frequency": "monthly",
                "better": ("higher", "lower", "neutral")[i % 3],
                "sectors": [f"bench-sector-{i % 20}"],
            }
            for i in range(indicators)
        ],
        "articles": [],
    }
    rows: list[dict[str, Any]] = []
    sentences: list[str] = []
    offset = 0
    article = 0

    def close_article() -> None:
        nonlocal sentences, offset, article
        head["articles"].append(
            {
                "slug": f"bench-article-{article}",
                "title": f"Bench article {article}",
                "published_at": f"20{10 + article % 15:02d}-01-01T00:00:00+00:00",
                "body": " ".join(sentences),
                "sectors": [f"bench-sector-{article % 20}"],
            }
        )
        sentences, offset, article = [], 0, article + 1

    for n in range(observations):
        indicator, month = n % indicators, months[(n // indicators) % len(months)]
        value = round(rng.uniform(-5, 15), 2)
        sentence = f"Indicator {indicator} stood at {value} percent in {month}."
        rows.append(
            {
                "indicator": f"bench-indicator-{indicator}",
                "period": month,
                "kind": "actual",
                "value": value,
                "comparator": "eq",
                "unit": "percent",
                "value_text": f"{value} percent",
                "evidence": {
                    "article": f"bench-article-{article}",
                    "quote": sentence,
                    "start": offset,
                    "end": offset + len(sentence),
                },
            }
        )
        sentences.append(sentence)
        offset += len(sentence) + 1
        if len(sentences) == PER_ARTICLE:
            close_article()
    if sentences:
        close_article()
    return head, iter(rows)


def write_bundle(path: Path, indicators: int, observations: int) -> None:
    head, rows = bundle_parts(indicators, observations)
    with path.open("w") as out:
        out.write("{")
        for key in ("sectors", "articles", "indicators"):
            out.write(f'"{key}": {json.dumps(head[key])}, ')
        out.write('"observations": [')
        for n, row in enumerate(rows):
            out.write(("," if n else "") + json.dumps(row))
        out.write("]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--indicators", type=int, default=1000)
    parser.add_argument("--observations", type=int, default=100_000)
    args = parser.parse_args()
    write_bundle(args.out, args.indicators, args.observations)


if __name__ == "__main__":
    main()
