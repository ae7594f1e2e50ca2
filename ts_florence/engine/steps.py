"""Pipeline steps of the data engine, datatrove style: every step takes an iterator of records and yields
records, and counts what it saw, kept and dropped (with the reason) so that every removal can be audited.

    Annotate(specialist)   runs one specialist and adds what it finds (never removes anything)
    Merge(weights, ...)    turns the specialists' candidate annotations into the record's annotations
    *Filter                drops annotations (or whole records) and says why
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..records import has_truth, source_kind, values_array
from ..windowing import nms_1d, span_iou

logger = logging.getLogger(__name__)

CANDIDATES = "_candidates"  # record key holding the specialists' annotations until Merge consumes them
DESCRIPTION = "_description"  # record key holding the SeriesDescription captions are written from
TRUTH_SOURCES = ("synthetic", "injected")  # exact ground truth from the generators


class Step:
    """One job. Subclasses implement `process(record) -> record | None` (None drops it, with `self.drop`)."""

    name = "step"

    def __init__(self) -> None:
        self.stats: dict[str, Any] = {"in": 0, "out": 0, "seconds": 0.0, "dropped": Counter(), "removed": Counter()}
        self.examples: list[dict] = []  # a few (id, reason) pairs of what was dropped, for the audit

    def process(self, record: dict) -> dict | None:
        raise NotImplementedError

    def drop(self, record: dict, reason: str) -> None:
        self.stats["dropped"][reason] += 1
        if len(self.examples) < 20:
            self.examples.append({"id": record.get("id"), "reason": reason})

    def removed(self, reason: str, count: int = 1) -> None:
        """Counts annotations removed from a record (the record itself stays)."""
        self.stats["removed"][reason] += count

    def run(self, records: Iterable[dict]) -> Iterator[dict]:
        """Processes records lazily; a record that carries exact ground truth skips specialists (see Annotate)."""
        for record in records:
            self.stats["in"] += 1
            start = time.perf_counter()
            out = self.process(record)
            self.stats["seconds"] += time.perf_counter() - start
            if out is not None:
                self.stats["out"] += 1
                yield out

    def summary(self) -> dict[str, Any]:
        return {
            "step": self.name,
            **{k: dict(v) if isinstance(v, Counter) else v for k, v in self.stats.items()},
            "examples": self.examples,
        }


class Annotate(Step):
    """Runs a specialist on each record. A specialist that raises on one series is logged and that series
    skipped (dropped with the error as reason); the others go on."""

    def __init__(self, specialist) -> None:
        super().__init__()
        self.specialist = specialist
        self.name = f"annotate:{specialist.name}"

    def process(self, record: dict) -> dict | None:
        if has_truth(record):
            return record  # exact ground truth: the corpus keeps it, specialists are scored on it in the audit
        try:
            found = self.specialist(values_array(record), record.get("timestamps"))
        except Exception as err:  # noqa: BLE001 - one bad series must not stop a corpus build
            logger.warning("specialist %s failed on %s: %s", self.specialist.name, record["id"], err)
            self.drop(record, f"{type(err).__name__} in {self.specialist.name}")
            return None
        candidates = record.setdefault(CANDIDATES, {})
        for key in ("spans", "segments", "change_points"):
            candidates.setdefault(key, []).extend(found.get(key, []))
        if found.get("description") is not None and DESCRIPTION not in record:
            record[DESCRIPTION] = found["description"]
        return record


class Merge(Step):
    """Consolidates candidate annotations, with one weight per source (a trained model joins later as one more
    source, `model@round`, with its own weight).

    Spans of the same kind from different sources that overlap (IoU >= `iou`) form a cluster; the cluster's
    score is the weighted mean of its members' scores times the share of the total weight that voted for it,
    its extent and label are those of its best-scored member, and its `source` lists the voters. Clusters
    voted by fewer than `min_sources` sources are dropped (agreement), unless a single source's weight
    reaches `trusted_weight`. Change points cluster within `margin` (a fraction of the length); segments come
    from the best-weighted segmenting source. Records that carry exact ground truth keep it unchanged.

    The "share of the total weight" counts the sources that annotated the record, except those named in
    `support_only`: such a source (the model of a refinement round) adds its weight to the clusters it votes for
    but its silence does not discount the others, so a model that misses what a specialist found cannot veto it.
    A source of weight 0 has no say: its candidates are dropped.
    """

    name = "merge"

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        iou: float = 0.3,
        min_sources: int = 1,
        trusted_weight: float = float("inf"),
        margin: float = 0.01,
        support_only: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.weights = dict(weights or {})
        self.support_only = set(support_only)
        self.iou = iou
        self.min_sources = min_sources
        self.trusted_weight = trusted_weight
        self.margin = margin

    def weight(self, source: str) -> float:
        return self.weights.get(source, self.weights.get(source.split("@")[0], 1.0))

    def _agreed(self, members: Sequence[dict]) -> tuple[list[str], float] | None:
        """The sources that voted for a cluster and their total weight, or None (counted) when too few agree."""
        sources = sorted({m["source"] for m in members})
        if len(sources) < self.min_sources and max(self.weight(s) for s in sources) < self.trusted_weight:
            self.removed(f"agreement: {len(sources)} < {self.min_sources} sources")
            return None
        return sources, sum(self.weight(s) for s in sources)

    def _total(self, all_sources: set[str]) -> float:
        """The weight a cluster is measured against (see the class docstring)."""
        voting = [s for s in all_sources if s not in self.support_only] or list(all_sources)
        return sum(self.weight(s) for s in voting) or 1.0

    def _merge_spans(self, spans: list[dict], all_sources: set[str]) -> list[dict]:
        total = self._total(all_sources)
        order = sorted(range(len(spans)), key=lambda i: -spans[i]["score"] * self.weight(spans[i]["source"]))
        clusters: list[list[dict]] = []
        for i in order:
            s = spans[i]
            for cluster in clusters:
                head = cluster[0]
                if (
                    head["kind"] == s["kind"]
                    and head["channel"] == s["channel"]
                    and span_iou((head["start"], head["end"]), (s["start"], s["end"])) >= self.iou
                ):
                    cluster.append(s)
                    break
            else:
                clusters.append([s])
        merged = []
        for cluster in clusters:
            agreed = self._agreed(cluster)
            if agreed is None:
                continue
            sources, weight = agreed
            best = cluster[0]
            mean = sum(m["score"] * self.weight(m["source"]) for m in cluster) / sum(
                self.weight(m["source"]) for m in cluster
            )
            merged.append(
                dict(best, score=round(float(mean * min(1.0, weight / total) ** 0.5), 4), source="+".join(sources))
            )
        return sorted(merged, key=lambda s: (s["start"], s["end"]))

    def _merge_points(self, points: list[dict], length: int, all_sources: set[str]) -> list[dict]:
        total = self._total(all_sources)
        tolerance = max(1, int(self.margin * length))
        clusters: list[list[dict]] = []
        for p in sorted(points, key=lambda p: p["index"]):
            if clusters and p["index"] - clusters[-1][-1]["index"] <= tolerance:
                clusters[-1].append(p)
            else:
                clusters.append([p])
        merged = []
        for cluster in clusters:
            agreed = self._agreed(cluster)
            if agreed is None:
                continue
            sources, weight = agreed
            best = max(cluster, key=lambda p: p["score"] * self.weight(p["source"]))
            merged.append(
                dict(
                    best,
                    score=round(float(best["score"] * min(1.0, weight / total) ** 0.5), 4),
                    source="+".join(sources),
                )
            )
        return merged

    def process(self, record: dict) -> dict | None:
        candidates = record.pop(CANDIDATES, {})
        if has_truth(record):
            return record
        length = len(record["values"][0])
        for key, found in candidates.items():
            silent = [a for a in found if self.weight(a["source"]) <= 0]
            if silent:
                self.removed("source weight 0", len(silent))
                candidates[key] = [a for a in found if self.weight(a["source"]) > 0]
        for key in ("spans", "change_points"):
            found = candidates.get(key, [])
            sources = {a["source"] for a in found}
            record[key] = (
                self._merge_spans(found, sources) if key == "spans" else self._merge_points(found, length, sources)
            )
        if candidates.get("segments"):
            by_source: dict[str, list[dict]] = {}
            for seg in candidates["segments"]:
                by_source.setdefault(seg["source"], []).append(seg)
            best = max(by_source, key=self.weight)
            record["segments"] = sorted(by_source[best], key=lambda s: s["start"])
        return record


class AnnotationFilter(Step):
    """Drops annotations (spans, change points) for which `keep(annotation, record)` is False, counting each
    removal under the filter's reason. Ground truth is never filtered."""

    keys: tuple[str, ...] = ("spans",)
    reason = "filtered"

    def keep(self, annotation: dict, record: dict) -> bool:
        raise NotImplementedError

    def process(self, record: dict) -> dict | None:
        for key in self.keys:
            if record.get(key) is None:
                continue  # not annotated at all (e.g. shape regimes' spans): nothing to filter, nothing to say
            kept = [a for a in record[key] if a.get("source") in TRUTH_SOURCES or self.keep(a, record)]
            if len(kept) < len(record.get(key, [])):
                self.removed(self.reason, len(record[key]) - len(kept))
            record[key] = kept
        return record


class ConfidenceFilter(AnnotationFilter):
    name = "confidence"
    keys = ("spans", "change_points")

    def __init__(self, min_score: float = 0.5) -> None:
        super().__init__()
        self.min_score = min_score
        self.reason = f"score < {min_score}"

    def keep(self, annotation: dict, record: dict) -> bool:
        return annotation["score"] >= self.min_score


class SpanLengthFilter(AnnotationFilter):
    name = "span_length"

    def __init__(self, min_length: int = 1, max_fraction: float = 0.5) -> None:
        super().__init__()
        self.min_length, self.max_fraction = min_length, max_fraction
        self.reason = f"span length outside [{min_length}, {max_fraction:.0%} of the series]"

    def keep(self, annotation: dict, record: dict) -> bool:
        size = annotation["end"] - annotation["start"]
        return self.min_length <= size <= self.max_fraction * len(record["values"][0])


class LabelBlacklistFilter(AnnotationFilter):
    name = "label_blacklist"
    keys = ("spans", "segments", "change_points")

    def __init__(self, labels: Sequence[str] = ()) -> None:
        super().__init__()
        self.labels = set(labels)
        self.reason = "blacklisted label"

    def keep(self, annotation: dict, record: dict) -> bool:
        return annotation.get("label") not in self.labels


class NMSFilter(Step):
    """1-D non-maximum suppression among spans of the same kind and channel. Ground truth is never suppressed."""

    name = "nms"

    def __init__(self, iou: float = 0.5) -> None:
        super().__init__()
        self.iou = iou

    def process(self, record: dict) -> dict | None:
        spans = record.get("spans")
        if not spans:
            return record
        keep = [i for i, s in enumerate(spans) if s.get("source") in TRUTH_SOURCES]  # ground truth stays
        groups: dict[tuple, list[int]] = {}
        for i, s in enumerate(spans):
            if s.get("source") not in TRUTH_SOURCES:
                groups.setdefault((s["kind"], s["channel"]), []).append(i)
        for idx in groups.values():
            kept = nms_1d(
                [(spans[i]["start"], spans[i]["end"]) for i in idx], [spans[i]["score"] for i in idx], self.iou
            )
            keep.extend(idx[k] for k in kept)
        if len(keep) < len(spans):
            self.removed(f"overlap IoU > {self.iou}", len(spans) - len(keep))
        record["spans"] = sorted((spans[i] for i in keep), key=lambda s: (s["start"], s["end"]))
        return record


class CaptionCheckFilter(Step):
    """Re-checks every caption written from a measured description against the signal
    (`captions.verify_caption`); a caption with a problem is blanked (and its groundings dropped) and the problem
    counted. Captions of synthetic series are written from their exact description and are not re-checked."""

    name = "caption_check"

    def __init__(self, verify) -> None:
        super().__init__()
        self.verify = verify

    def process(self, record: dict) -> dict | None:
        from .descriptions import SeriesDescription

        description = record.get(DESCRIPTION)
        if description is None or not isinstance(description, SeriesDescription) or source_kind(record) == "synthetic":
            return record
        values = values_array(record)
        bad = False
        for key in ("brief", "detailed", "more_detailed"):
            text = record["captions"].get(key)
            if text:
                problems = self.verify(text, values, description)
                if problems:
                    self.removed(f"caption contradicts the signal: {problems[0].split(':')[0]}")
                    record["captions"][key] = ""
                    bad = True
        if bad:
            kept = [
                g
                for g in record.get("groundings", [])
                if any(g["phrase"] in (record["captions"].get(k) or "") for k in ("brief", "detailed", "more_detailed"))
            ]
            self.removed("grounding of a dropped caption", len(record.get("groundings", [])) - len(kept))
            record["groundings"] = kept
        return record


class ValidSeriesFilter(Step):
    """Drops records whose values cannot be used: empty, a channel with no observed value, infinite values."""

    name = "valid_series"

    def process(self, record: dict) -> dict | None:
        values = values_array(record)
        if values.size == 0 or values.shape[1] == 0:
            self.drop(record, "empty series")
            return None
        if np.isinf(values).any():
            self.drop(record, "infinite values")
            return None
        if np.isnan(values).all(axis=1).any():
            self.drop(record, "a channel with no observed value")
            return None
        return record


def near_duplicate_signature(values: np.ndarray, points: int = 32) -> str:
    """Coarse shape signature: each channel z-normalised, reduced to `points` block means, rounded to 0.1.
    Equal signatures mean the same shape up to offset, scale and fine noise."""
    import hashlib

    rows = []
    for channel in values:
        x = channel[~np.isnan(channel)]
        if len(x) == 0:
            rows.append(np.zeros(points))
            continue
        x = (x - x.mean()) / (x.std() + 1e-12)
        edges = np.linspace(0, len(x), points + 1).astype(int)
        rows.append(np.array([x[a : max(b, a + 1)].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)]))
    return hashlib.sha1(np.round(np.array(rows), 1).astype(np.float32).tobytes()).hexdigest()


__all__ = [
    "Step",
    "Annotate",
    "Merge",
    "AnnotationFilter",
    "ConfidenceFilter",
    "SpanLengthFilter",
    "LabelBlacklistFilter",
    "NMSFilter",
    "CaptionCheckFilter",
    "ValidSeriesFilter",
    "near_duplicate_signature",
    "CANDIDATES",
    "DESCRIPTION",
    "TRUTH_SOURCES",
]
