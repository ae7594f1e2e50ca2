"""The series gain: how much a model's answers depend on the series it reads.

The loss of every example with another example's series in its place, minus the loss with its own: near zero
means the decoder answers from the prompt alone and ignores its input. Training (`ts_florence.training`) reports it
at every evaluation (per task) and `scripts/probe_localisation.py` beside its detection scores. Units: nats per
target token.
"""

from __future__ import annotations

import torch


def example_losses(model, batch: dict) -> torch.Tensor:
    """Mean target-token cross-entropy `[batch]` of each example of `batch` (a collated batch with `labels`)."""
    labels = batch["labels"]
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}, labels=labels).logits
    token_loss = torch.nn.functional.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none"
    )
    mask = (labels != -100).float()
    return (token_loss * mask).sum(1) / mask.sum(1).clamp(min=1)


def swap_series(batch: dict) -> tuple[dict, torch.Tensor]:
    """`batch` with every example's series replaced by the next example's (cyclic) among those of the same token
    count and other values, and a mask `[batch]` of the examples that got another series."""
    counts = batch["series_mask"].sum(1).tolist()
    patches = batch["series_patches"]
    order = list(range(len(counts)))
    for i, n in enumerate(counts):
        others = [j for j in range(len(counts)) if counts[j] == n and not torch.equal(patches[j], patches[i])]
        after = [j for j in others if j > i]
        order[i] = (after or others or [i])[0]
    order = torch.tensor(order)
    swapped = {k: (v[order] if k.startswith("series_") else v) for k, v in batch.items()}
    return swapped, order != torch.arange(len(counts))


def series_gains(model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """`(losses, gains)`, each `[batch]`: every example's loss, and its loss with another series minus that
    (NaN for an example no other series of the batch could stand in for)."""
    loss = example_losses(model, batch)
    swapped, moved = swap_series(batch)
    return loss, torch.where(moved.to(loss.device), example_losses(model, swapped) - loss, torch.nan)


__all__ = ["example_losses", "series_gains", "swap_series"]
