"""The utterance CNN of the emotion-in-conversation papers, rebuilt from a ModelSpec.

embedding -> Conv1d (filter sizes 3,4,5 x 50 maps) -> pooling -> ReLU -> concat -> Linear(100)
-> ReLU = the features. Dropout and the classifier head sit on top and only matter in training.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from cnnfeat.contract.spec import ModelSpec


class UtteranceCNN(nn.Module):
    def __init__(self, spec: ModelSpec, num_labels: int | None = None):
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_dim, padding_idx=spec.pad_id)
        self.convs = nn.ModuleList(
            nn.Conv1d(spec.embedding_dim, spec.feature_maps, k) for k in spec.filter_sizes
        )
        self.fc = nn.Linear(spec.pooled_dim, spec.feature_dim)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(spec.feature_dim, num_labels or len(spec.label_names) or 1)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """The 100-d representation: (batch, seq) int64 ids -> (batch, feature_dim) float32.

        Padding never changes a row. Global pooling masks every window that reaches past the
        utterance, so a line pads the same alone or beside longer lines; a line shorter than
        the widest filter (an empty line too) is read as padded with [PAD] up to that width.
        Window pooling always sees exactly `max_len` ids.
        """
        spec = self.spec
        if spec.pool == "window":
            ids = _fit_length(ids, spec.max_len, spec.pad_id)
        elif ids.shape[1] < spec.min_len:
            ids = F.pad(ids, (0, spec.min_len - ids.shape[1]), value=spec.pad_id)
        x = self.embedding(ids).transpose(1, 2)  # (batch, dim, seq)
        pooled = [
            self._pool(conv(x), k, ids)
            for conv, k in zip(self.convs, spec.filter_sizes, strict=True)
        ]
        hidden = self.dropout(torch.cat(pooled, dim=1))
        return F.relu(self.fc(hidden))

    def forward(self, ids: torch.Tensor, feature_noise: float = 0.0) -> torch.Tensor:
        """Class logits for training; export uses `features` instead.

        In training mode, `feature_noise` > 0 adds N(0, feature_noise²) to each of the 100
        features before dropout and the classifier (the features' own std is about 0.3 on MELD).
        """
        features = self.features(ids)
        if self.training and feature_noise > 0:
            features = features + feature_noise * torch.randn_like(features)
        return self.classifier(self.dropout(features))

    def _pool(self, maps: torch.Tensor, width: int, ids: torch.Tensor) -> torch.Tensor:
        if self.spec.pool == "window":
            pooled = F.max_pool1d(maps, self.spec.pool_window)
            return F.relu(pooled).flatten(1)
        # Window t covers tokens t..t+width-1; it is valid while it ends inside the utterance,
        # where an utterance counts as at least min_len long (its [PAD] tail is then part of it).
        lengths = (ids != self.spec.pad_id).sum(dim=1).clamp(min=self.spec.min_len)
        steps = torch.arange(maps.shape[2], device=ids.device)
        valid = steps.unsqueeze(0) <= (lengths - width).unsqueeze(1)
        masked = maps.masked_fill(~valid.unsqueeze(1), float("-inf"))
        return F.relu(masked.amax(dim=2))


def _fit_length(ids: torch.Tensor, length: int, pad_id: int) -> torch.Tensor:
    if ids.shape[1] >= length:
        return ids[:, :length]
    return F.pad(ids, (0, length - ids.shape[1]), value=pad_id)
