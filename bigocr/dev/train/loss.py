"""CRAFT's training loss: per-pixel MSE with online hard-negative mining."""

from __future__ import annotations

import torch

__all__ = ["ohem_mse", "craft_loss"]


def ohem_mse(pred: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor, *, ratio: int = 3,
             positive: float = 0.1, min_negatives: int = 500) -> torch.Tensor:
    """MSE over all positive pixels and the ``ratio`` x as many hardest negatives, per image.

    Parameters
    ----------
    pred, target, confidence : Tensor, shape (n, h, w)
        Predicted and true scores, and the per-pixel confidence weighting the
        error (1 for synthetic data; s_conf for weakly supervised words).
    ratio : int
        Negatives kept per positive (the paper's 3:1).
    positive : float
        Truth above this is a positive pixel.
    min_negatives : int
        Negatives kept in an image with few or no positives.

    Returns
    -------
    Tensor, scalar: the mean over images of (sum of kept errors) / (pixels kept).
    """
    err = (pred.float() - target.float()) ** 2 * confidence.float()
    losses = []
    for e, t in zip(err.flatten(1), target.flatten(1)):
        pos = t > positive
        n_pos = int(pos.sum())
        neg = e[~pos]
        k = min(neg.numel(), max(ratio * n_pos, min_negatives))
        hard = torch.topk(neg, k, sorted=False).values.sum() if k else e.new_zeros(())
        losses.append((e[pos].sum() + hard) / max(1, n_pos + k))
    return torch.stack(losses).mean()


def craft_loss(scores: torch.Tensor, region: torch.Tensor, affinity: torch.Tensor,
               confidence: torch.Tensor) -> torch.Tensor:
    """Sum of the OHEM losses of both maps; ``scores`` is CRAFT's ``(n, h, w, 2)`` output."""
    return ohem_mse(scores[..., 0], region, confidence) + ohem_mse(scores[..., 1], affinity, confidence)
