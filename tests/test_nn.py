"""Model parts: SASRec causality and padding, the chunked loss, popularity, ranking masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys_kit.builtin.encoders import IdEmbeddingConfig, TransformerConfig
from recsys_kit.builtin.scorers import DotConfig
from recsys_kit.nn.batches import left_pad, next_item_pairs
from recsys_kit.nn.encoders.embeddings import IdEmbedding
from recsys_kit.nn.encoders.popularity import Popularity
from recsys_kit.nn.encoders.sasrec import build_sasrec
from recsys_kit.nn.fusion.last_position import LastPosition
from recsys_kit.nn.heads.dot import Dot
from recsys_kit.nn.heads.full_softmax import dot_cross_entropy
from recsys_kit.nn.model import ModelShape, SequenceRecommender
from recsys_kit.nn.ranking.rank import highest, rank

N_ITEMS = 30


def model(loss: str = "cross_entropy", max_len: int = 8) -> SequenceRecommender:
    torch.manual_seed(0)
    shape = ModelShape(N_ITEMS, 16, max_len, np.ones(N_ITEMS + 1))
    cfg = TransformerConfig(layers=2, heads=2, dim=16, max_len=max_len, dropout=0.0)
    return SequenceRecommender([IdEmbedding(IdEmbeddingConfig(), shape)], build_sasrec(cfg, shape),
                               LastPosition(), Dot(DotConfig(loss=loss, negatives=8), shape)).eval()


def states(m: SequenceRecommender, history: list[list[int]]) -> torch.Tensor:
    h = torch.tensor(history)
    return m.encode(h, m.item_table())[0]


def test_sasrec_is_causal() -> None:
    m = model()
    a = states(m, [[0, 0, 3, 4, 5, 6, 7, 8]])
    b = states(m, [[0, 0, 3, 4, 5, 9, 9, 9]])
    assert torch.allclose(a[0, :5], b[0, :5], atol=1e-5)
    assert not torch.allclose(a[0, 5:], b[0, 5:])


def test_left_padding_does_not_leak_into_real_positions() -> None:
    m = model()
    short = states(m, [[0, 0, 0, 0, 0, 4, 5, 6]])
    other_pad = states(m, [[0, 0, 0, 0, 0, 4, 5, 6]])
    assert torch.allclose(short, other_pad)
    # the same items with padding in front give the same last state as a batch neighbour
    batch = states(m, [[0, 0, 0, 0, 0, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7, 8]])
    assert torch.allclose(batch[0, -1], short[0, -1], atol=1e-5)


def test_chunked_cross_entropy_matches_torch() -> None:
    torch.manual_seed(1)
    s = torch.randn(50, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    t = torch.randint(0, 20, (50,))
    ours = dot_cross_entropy(s, w, t, max_rows=7)
    ours.backward()
    grads = s.grad.clone(), w.grad.clone()
    s.grad = w.grad = None
    ref = F.cross_entropy(s @ w.T, t)
    ref.backward()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(grads[0], s.grad, atol=1e-6)
    assert torch.allclose(grads[1], w.grad, atol=1e-6)


@pytest.mark.parametrize("loss", ["cross_entropy", "sampled_softmax", "bce"])
def test_every_loss_trains_the_model(loss: str) -> None:
    m = model(loss).train()
    seqs = [np.arange(1, 9) + i % 5 for i in range(32)]
    x, y = map(torch.from_numpy, next_item_pairs(seqs, 8))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    first = m.loss(x, y).item()
    for _ in range(30):
        opt.zero_grad()
        m.loss(x, y).backward()
        opt.step()
    assert m.loss(x, y).item() < first


def test_padding_positions_produce_no_logits(monkeypatch) -> None:
    m = model()
    seen: list[int] = []
    original = m.scorer.loss

    def spy(s, targets, table):
        seen.append(len(targets))
        assert (targets != 0).all()
        return original(s, targets, table)

    monkeypatch.setattr(m.scorer, "loss", spy)
    x, y = map(torch.from_numpy, next_item_pairs([np.array([1, 2, 3]), np.array([4, 5])], 8))
    m.loss(x, y)
    assert seen == [3]  # 2 + 1 real targets, not 2 x 8 positions


def test_encoding_in_length_groups_changes_nothing(monkeypatch) -> None:
    from recsys_kit.nn.encoders import sasrec

    torch.manual_seed(0)
    cfg = TransformerConfig(layers=2, heads=2, dim=16, max_len=8, dropout=0.0)
    encoder = sasrec.TransformerEncoder(cfg, causal=True).eval()
    history = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 4, 5, 6],
                            [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 3, 0, 5, 6, 7, 8],
                            [0, 0, 0, 0, 0, 0, 0, 9]])
    items = torch.randn(5, 8, 16)
    monkeypatch.setattr(sasrec, "MIN_GROUPED_ROWS", 1)

    def encoded_and_gradients(groups: int) -> tuple[torch.Tensor, ...]:
        monkeypatch.setattr(sasrec, "length_groups", lambda device: groups)
        encoder.zero_grad()
        x = items.clone().requires_grad_()
        out = encoder(x, history != 0)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        return out, x.grad, encoder.blocks[0].qkv.weight.grad.clone()

    for whole, grouped in zip(encoded_and_gradients(1), encoded_and_gradients(3), strict=True):
        assert torch.allclose(whole, grouped, atol=1e-5)


def test_left_pad_and_next_item_pairs() -> None:
    assert left_pad([np.array([1, 2, 3]), np.array([4])], 2).tolist() == [[2, 3], [0, 4]]
    x, y = next_item_pairs([np.array([1, 2, 3]), np.array([7])], 4)
    assert x.tolist() == [[0, 0, 1, 2]] and y.tolist() == [[0, 0, 2, 3]]


def test_popularity_ranks_by_training_counts_and_masks_seen_items() -> None:
    from recsys_kit.data import SequenceData

    data = SequenceData(
        user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z"]),
        offsets=np.array([0, 3, 6]), items=np.array([1, 1, 2, 3, 1, 3]),
        split=np.array([0, 0, 2, 0, 0, 2], dtype=np.int8),
    )
    pop = Popularity(ModelShape(3, 4, 4, data.train_counts()))
    pop.fit(data)
    r = rank(pop, data.sequences(1), data.targets(2), k=2, max_len=4, batch_size=1,
             device=torch.device("cpu"))
    assert r.items[0].tolist()[0] == 3  # user a saw item 1 (x): z and y remain
    assert 1 not in r.items[1].tolist()[:1]


def test_ranking_scores_are_float32_under_bf16_autocast() -> None:
    m = model()
    history = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = m.scores(history)
    assert scores.dtype == torch.float32
    finite = scores[scores.isfinite()]
    assert len(torch.unique(finite)) == len(finite)  # no ties from bf16 rounding


def test_cpu_dropout_zeroes_p_of_the_values_and_scales_the_rest() -> None:
    from recsys_kit.nn.dropout import Dropout

    torch.manual_seed(0)
    drop = Dropout(0.2).train()
    x = torch.ones(200, 500, requires_grad=True)
    out = drop(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.8) < 0.01
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1.25))
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # the gradient goes through the same mask
    assert torch.equal(drop.eval()(x), x)


def test_freed_memory_is_kept_on_the_cpu_unless_the_user_tunes_malloc(monkeypatch) -> None:
    import platform

    from recsys_kit.nn.training import host_memory

    with host_memory.kept_freed_memory(torch.device("meta")) as kept:
        assert not kept
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    with host_memory.kept_freed_memory(torch.device("cpu")) as kept:
        assert not kept
    monkeypatch.delenv("GLIBC_TUNABLES")
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    calls: list[tuple[int, int]] = []
    real = host_memory._mallopt(torch.device("cpu"))
    monkeypatch.setattr(host_memory, "_mallopt", lambda device: lambda option, value: (
        calls.append((option, value)), real(option, value))[1])
    with host_memory.kept_freed_memory(torch.device("cpu")) as kept:
        assert kept and (host_memory.M_MMAP_THRESHOLD, host_memory.KEEP_BYTES) in calls
    assert calls[-3:] == list(host_memory.USUAL)  # glibc's usual limits back afterwards


def test_equal_scores_rank_in_item_order_whatever_k() -> None:
    # topk orders ties as its kernel likes: the top 5 were not the first 5 of the top 20.
    scores = torch.tensor([[1.0, 3.0, 2.0, 3.0, 2.0, 2.0, 0.5, 2.0, 2.0, float("-inf")]])
    values, columns = highest(scores, 4)
    assert columns.tolist() == [[1, 3, 2, 4]] and values.tolist() == [[3.0, 3.0, 2.0, 2.0]]
    for k in range(11):
        assert highest(scores, k)[1].tolist() == [[1, 3, 2, 4, 5, 7, 8, 0, 6, 9][:k]]


def test_highest_is_topk_where_nothing_ties() -> None:
    scores = torch.randn(64, 500, generator=torch.Generator().manual_seed(0))
    values, columns = highest(scores, 20)
    expected = scores.topk(20, dim=1)
    assert torch.equal(values, expected.values) and torch.equal(columns, expected.indices)


def test_ties_at_the_cut_keep_the_earliest_items_row_by_row() -> None:
    scores = torch.zeros(3, 50)
    scores[0, 40] = 1.0  # one above, 49 tied
    scores[2] = torch.arange(50.0)  # no tie
    _, columns = highest(scores, 3)
    assert columns.tolist() == [[40, 0, 1], [0, 1, 2], [49, 48, 47]]

