"""A fine-tune that does not forget (ADR 0034): the newly corrected frames get a fixed share of
every batch, the project's other reviewed frames (replay) fill the rest, and optionally a pull
toward the parent's weights (L2-SP: ``lam * sum((w - w_parent) ** 2)``).

Trained on one camera family alone, both the detector and the sky network forget the other
families (MODEL.md, issue 20, A and C); trained on everything with the new frames at their natural
share (40 of 552 frames: 7 %) the new frames hardly move the model (B). A fixed share per batch
keeps both: the new frames are seen often, and every step also sees the frames it must not forget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_NEW_SHARE = 0.5  # of each batch: 4 of 8 crops / frames from the newly corrected images
NEW_SINCE_EVER = "ever"  # train --new-since: every image a person reviewed in the app is new


def new_per_batch(batch: int, share: float) -> int:
    """How many of a batch's ``batch`` places go to the new frames: ``round(share * batch)``, but at
    least 1 and at most ``batch - 1`` (both kinds in every batch) when ``batch`` > 1."""
    if batch <= 1:
        return batch if share >= 0.5 else 0
    return min(max(int(round(share * batch)), 1), batch - 1)


def _stream(indices: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` draws from ``indices``: whole permutations one after the other (each index once
    per pass), the last one cut."""
    passes = max(1, math.ceil(length / max(len(indices), 1)))
    return np.concatenate([rng.permutation(indices) for _ in range(passes)])[:length]


def mixed_order(new: Sequence[int], old: Sequence[int], batch: int, share: float, steps: int,
                rng: np.random.Generator) -> np.ndarray:
    """The indices of ``steps`` batches of ``batch``: each batch has ``new_per_batch(batch, share)``
    of ``new`` (cycling through permutations of them) and the rest of ``old`` (likewise), the two
    parts shuffled together. With either list empty, permutations of the other."""
    new_a, old_a = np.asarray(new, np.int64), np.asarray(old, np.int64)
    total = steps * batch
    if not len(new_a) or not len(old_a):
        return _stream(new_a if len(new_a) else old_a, total, rng)
    k = new_per_batch(batch, share)
    n_new, n_old = _stream(new_a, steps * k, rng), _stream(old_a, steps * (batch - k), rng)
    out = np.empty(total, np.int64)
    for s in range(steps):
        part = np.concatenate([n_new[s * k:(s + 1) * k], n_old[s * (batch - k):(s + 1) * (batch - k)]])
        out[s * batch:(s + 1) * batch] = rng.permutation(part)
    return out


def keep_norm_statistics(module: torch.nn.Module) -> None:
    """Every BatchNorm layer of ``module`` in eval mode: it normalises with the parent's running
    statistics and does not update them (its weight and bias still train). Called after the loop
    put the module in training mode. A fine-tune's batches, half of them from one camera family,
    would otherwise replace in a few dozen steps the statistics the parent gathered over all."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


class ParentPull:
    """L2-SP: ``lam * sum over the trainable parameters of (w - w_parent) ** 2``, with ``w_parent``
    the values when it was made (the weights the fine-tune starts from). Unlike weight decay, which
    pulls toward zero, it pulls toward what the parent knew."""

    def __init__(self, module: torch.nn.Module, lam: float) -> None:
        self.lam = float(lam)
        self.ref = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}

    def __call__(self, module: torch.nn.Module) -> torch.Tensor:
        import torch

        terms = [((p - self.ref[n].to(p.device)) ** 2).sum() for n, p in module.named_parameters() if n in self.ref]
        total = torch.stack(terms).sum() if terms else torch.zeros(())
        return self.lam * total

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.ref)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """On a resume: the parent's values (the weights the run started from, not the resumed ones)."""
        self.ref.update({k: v for k, v in state.items() if k in self.ref})
