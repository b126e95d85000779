"""How the utterance CNN is trained and fed: the recipe ingredients `cnnfeat train` offers.

None of these changes the network the features come from (Kim 2014's one convolutional layer,
the 100-d layer); they change its input copy, its optimiser and its regularisation:

- multichannel input (Kim 2014, "CNN-multichannel"): two copies of the word vectors, one frozen
  and one fine-tuned, side by side. The filters read both (each filter has weights for both
  copies, and the two responses add), which is exactly a convolution over the concatenated
  2·D-wide rows, so the trained model is an ordinary `UtteranceCNN` with `embedding_dim` 2·D
  and exports unchanged; training only keeps the gradient of the first D columns at zero.
- max-norm on the classifier's weight vectors (Kim 2014: s = 3, renormalised after each step);
- weight decay (decoupled, AdamW; never on the word vectors);
- a learning-rate schedule ("plateau": halve when dev weighted-F1 stalls; "cosine");
- word dropout (a token becomes [UNK] with probability p during training; Iyyer et al. 2015);
- feature noise (Gaussian noise on the 100-d features during training, `UtteranceCNN.forward`);
- label smoothing (Szegedy et al. 2016), class-weighted loss (inverse frequency ** power);
- an exponential moving average of the weights (Polyak averaging), evaluated and kept in place
  of the raw weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from cnnfeat.training.config import LR_SCHEDULES
from cnnfeat.training.model import UtteranceCNN


def multichannel_vectors(vectors: np.ndarray) -> np.ndarray:
    """(V, D) float32 word vectors -> (V, 2·D): [frozen copy | fine-tuned copy], same values."""
    return np.concatenate([vectors, vectors], axis=1)


def freeze_first_columns(embedding: nn.Embedding, columns: int) -> None:
    """Keep the gradient of `embedding.weight[:, :columns]` at zero (the static channel).

    With Adam a zero gradient (and no weight decay, see `make_optimizer`) leaves those
    weights exactly as they were.
    """

    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:, :columns] = 0.0
        return grad

    embedding.weight.register_hook(hook)


def make_optimizer(model: UtteranceCNN, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam over the trainable parameters; with weight_decay > 0, AdamW, sparing the vectors."""
    if weight_decay <= 0:
        return torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=lr)
    vectors = [model.embedding.weight] if model.embedding.weight.requires_grad else []
    others = [p for n, p in model.named_parameters() if p.requires_grad and n != "embedding.weight"]
    groups = [{"params": others, "weight_decay": weight_decay}]
    if vectors:
        groups.append({"params": vectors, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=lr)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, epochs: int):
    """None for "constant"; otherwise a scheduler whose `step` `step_scheduler` calls per epoch."""
    if schedule == "constant":
        return None
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=2
        )
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; one of {LR_SCHEDULES}")


def step_scheduler(scheduler, dev_f1: float) -> None:
    """Advance the schedule once per epoch (plateau watches dev weighted-F1)."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(dev_f1)
    else:
        scheduler.step()


def drop_words(
    batch: torch.Tensor, rate: float, unk_id: int, pad_id: int, generator: torch.Generator
) -> torch.Tensor:
    """(batch, seq) int64 ids -> the same with each non-[PAD] id turned [UNK] with prob. `rate`."""
    if rate <= 0:
        return batch
    hit = (torch.rand(batch.shape, generator=generator) < rate) & (batch != pad_id)
    return batch.masked_fill(hit, unk_id)


def apply_max_norm(layer: nn.Linear, max_norm: float) -> None:
    """Rescale every row (one class's weight vector) of `layer.weight` to L2 norm <= max_norm."""
    if max_norm <= 0:
        return
    with torch.no_grad():
        layer.weight.copy_(torch.renorm(layer.weight, p=2, dim=0, maxnorm=max_norm))


def class_weights(y: np.ndarray, n: int, power: float) -> torch.Tensor:
    """(n,) float32 loss weights (N / (n·count)) ** power; power 1 is inverse frequency."""
    counts = np.bincount(y, minlength=n).astype(np.float64)
    weights = (counts.sum() / (n * np.maximum(counts, 1))) ** power
    return torch.tensor(weights, dtype=torch.float32)


def make_ema(model: UtteranceCNN, decay: float) -> AveragedModel | None:
    """An exponential moving average of the weights (decay per optimiser step), or None if 0."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
