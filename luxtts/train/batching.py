"""Batches bucketed by duration under a frame budget, a deterministic function of (seed, epoch, rank).

Utterances are shuffled, cut into pools of ``pool`` items, sorted by length inside each pool and packed
greedily so that ``batch_size x longest <= max_frames`` (padded frames count); the batches are then shuffled.
With several ranks, each rank takes every world-th batch (and reads only those utterances' shards); the list
is cut to a multiple of world so that every rank makes the same number of steps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import List, Sequence

import torch

from ..audio.features import FEATURE_SCALE


def make_batches(lengths: Sequence[int], indices: Sequence[int], max_frames: int, seed: int, epoch: int,
                 pool: int = 1000) -> List[List[int]]:
    """Global batch list for one epoch (lists of utterance indices). An utterance longer than ``max_frames``
    gets a batch of its own."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(indices)
    rng.shuffle(order)
    batches: List[List[int]] = []
    for start in range(0, len(order), pool):
        group = sorted(order[start:start + pool], key=lambda i: lengths[i])
        current: List[int] = []
        longest = 0
        for i in group:
            n = lengths[i]
            if current and max(longest, n) * (len(current) + 1) > max_frames:
                batches.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, n)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def rank_batches(batches: List[List[int]], rank: int, world: int) -> List[List[int]]:
    usable = len(batches) - len(batches) % world
    return batches[rank:usable:world]


@dataclass
class Batch:
    tokens: List[List[int]]
    features: torch.Tensor  # (B, T, F) scaled log-mel (x 0.1), zero-padded
    features_lens: torch.Tensor  # (B,) int64

    @property
    def frames(self) -> int:
        return int(self.features_lens.sum())


def collate(dataset, items: Sequence[int], token_to_id: dict) -> Batch:
    """Load, scale and pad the features of ``items``; map their token strings to ids (unknown ones dropped,
    as the inference tokenizer drops them)."""
    feats = [dataset.features(i) for i in items]
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    out = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
    for k, f in enumerate(feats):
        out[k, : f.shape[0]] = f * FEATURE_SCALE
    tokens = [[token_to_id[t] for t in dataset.utterances[i].tokens if t in token_to_id] for i in items]
    return Batch(tokens, out, lens)
