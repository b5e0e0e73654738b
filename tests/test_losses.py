"""The dot scorer's losses: full softmax (memory-sized chunks, fused kernel on CUDA), sampled
softmax with logQ correction, gBCE and SCE."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys_kit.builtin.scorers import DotConfig
from recsys_kit.nn import precision
from recsys_kit.nn.heads import full_softmax
from recsys_kit.nn.heads.binary import BinaryCrossEntropy, GeneralisedBinaryCrossEntropy, gbce_beta
from recsys_kit.nn.heads.dot import Dot
from recsys_kit.nn.heads.full_softmax import dot_cross_entropy, rows_per_chunk
from recsys_kit.nn.heads.fused_kernel import fused_dot_cross_entropy, fused_kernel_usable
from recsys_kit.nn.heads.sampled_softmax import SampledSoftmax, corrected_softmax_loss
from recsys_kit.nn.heads.sce import ScalableCrossEntropy
from recsys_kit.nn.model import ModelShape


def problem(n: int = 40, v: int = 25, d: int = 8, seed: int = 0):
    """States (N, D) and items (V, D) that need gradients, and targets (N,)."""
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(n, d, generator=g).requires_grad_()
    items = torch.randn(v, d, generator=g).requires_grad_()
    return states, items, torch.randint(0, v, (n,), generator=g)


def loss_and_grads(fn, states, items, targets):
    states.grad = items.grad = None
    loss = fn(states, items, targets)
    loss.backward()
    return loss.detach(), states.grad.clone(), items.grad.clone()


def reference(states, items, targets):
    return F.cross_entropy(states @ items.T, targets)


# -- full softmax ---------------------------------------------------------------------------

@pytest.mark.parametrize("max_rows", [7, 40, None])
def test_full_softmax_matches_plain_cross_entropy(max_rows: int | None) -> None:
    s, w, t = problem()
    ours = loss_and_grads(lambda *a: dot_cross_entropy(*a, max_rows=max_rows), s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=1e-6)
    assert torch.allclose(ours[1], ref[1], atol=1e-6)
    assert torch.allclose(ours[2], ref[2], atol=1e-6)


@pytest.mark.parametrize("max_rows", [7, None])
def test_full_softmax_is_exact_where_target_probabilities_underflow(max_rows: int | None) -> None:
    s, w, t = problem()
    with torch.no_grad():
        s *= 30  # logits in the hundreds: most targets' probabilities are 0 in float32
    assert (torch.softmax(s @ w.T, 1).gather(1, t[:, None]) == 0).any()
    ours = loss_and_grads(lambda *a: dot_cross_entropy(*a, max_rows=max_rows), s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert math.isfinite(ours[0].item())
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=1e-5)
    assert torch.allclose(ours[1], ref[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("max_rows", [7, None])
def test_full_softmax_under_bf16_autocast_is_close_to_float32(max_rows: int | None) -> None:
    s, w, t = problem(n=64, v=50, d=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = loss_and_grads(lambda *a: dot_cross_entropy(*a, max_rows=max_rows), s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert ours[0].dtype == torch.float32 and ours[1].dtype == torch.float32
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=2e-2)
    for mine, theirs in zip(ours[1:], ref[1:], strict=True):
        assert (mine - theirs).abs().max() <= 2e-2 * theirs.abs().max()


def test_chunk_rows_come_from_the_memory_budget(monkeypatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(precision, "free_memory", lambda device: 80 * 2**30)
    # ML-1M: 3,416 items, a batch of 128 x 200 positions: one chunk on an 80 GiB GPU.
    assert rows_per_chunk(3416, cuda) >= 128 * 200
    monkeypatch.setattr(precision, "free_memory", lambda device: 400 * 2**20)
    rows = rows_per_chunk(200_000, cuda)
    expected = 400 * 2**20 * precision.MEMORY_FRACTION // (full_softmax.BYTES_PER_LOGIT * 200_000)
    assert rows == expected and rows < 128 * 100


def test_cpu_chunks_stay_in_the_cache_unless_a_minimum_is_asked(monkeypatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "free_memory", lambda device: 80 * 2**30)
    assert rows_per_chunk(3416, cpu) == precision.CPU_CHUNK_BYTES // (4 * 3416)
    assert rows_per_chunk(200_000, cpu) == 2
    assert rows_per_chunk(200_000, cpu, min_rows=32) == 32
    assert rows_per_chunk(200_000, cpu, budget=10 * 200_000 * 5, min_rows=32) == 5


def spy_on(monkeypatch, function: type, calls: list[int]) -> None:
    """Record the chunk size each call of an autograd function's forward is given."""
    original = function.forward

    def spy(ctx, states, items, targets, dtype, chunk):
        calls.append(chunk)
        return original(ctx, states, items, targets, dtype, chunk)

    monkeypatch.setattr(function, "forward", staticmethod(spy))


@pytest.mark.parametrize(("budget", "kept", "chunked"), [
    (10**6, [2000], []),  # everything fits: logits kept, one float32 chunk
    (8000, [16], []),  # the 40 x 25 float32 logits fit in half: kept, gradient in 3 chunks
    (4000, [], [8]),  # they do not: recomputed in chunks of 8 rows
])
def test_the_memory_budget_picks_the_path_and_the_chunks(
    monkeypatch, budget: int, kept: list[int], chunked: list[int]
) -> None:
    monkeypatch.setattr(full_softmax, "memory_budget", lambda device: budget)
    seen_kept: list[int] = []
    seen_chunked: list[int] = []
    spy_on(monkeypatch, full_softmax._KeptLogits, seen_kept)
    spy_on(monkeypatch, full_softmax._ChunkedDotCrossEntropy, seen_chunked)
    s, w, t = problem()
    ours = loss_and_grads(dot_cross_entropy, s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert (seen_kept, seen_chunked) == (kept, chunked)
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=1e-6)
    assert torch.allclose(ours[1], ref[1], atol=1e-6) and torch.allclose(ours[2], ref[2], atol=1e-6)


def test_free_memory_on_the_cpu_is_the_available_ram() -> None:
    ram = precision.free_memory(torch.device("cpu"))
    assert 0 < ram <= os_total_ram()


def os_total_ram() -> int:
    import os

    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def nondeterministic():
    """PyTorch allowed nondeterministic kernels for one test (a run may have turned them off)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(before, warn_only=True)


def test_the_fused_kernel_is_never_picked_off_cuda() -> None:
    assert not fused_kernel_usable(torch.device("cpu"), torch.bfloat16)


def test_a_fused_kernel_that_fails_to_import_falls_back_with_a_warning(monkeypatch) -> None:
    import types

    from recsys_kit.nn.heads import fused_kernel

    broken = types.ModuleType("cut_cross_entropy")

    def missing(name: str):
        raise RuntimeError(f"Triton cannot build {name!r} for this GPU")

    broken.__getattr__ = missing
    monkeypatch.setitem(sys.modules, "cut_cross_entropy", broken)
    fused_kernel.kernel_function.cache_clear()
    try:
        with pytest.warns(UserWarning, match="does not import .*torch implementation"):
            assert fused_kernel.kernel_function() is None
    finally:
        fused_kernel.kernel_function.cache_clear()


def test_the_fused_kernel_is_never_picked_when_runs_must_be_deterministic(monkeypatch) -> None:
    from recsys_kit.nn.heads import fused_kernel

    monkeypatch.setattr(fused_kernel, "kernel_function", lambda: F.cross_entropy)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        assert fused_kernel_usable(torch.device("cuda"), torch.bfloat16)
        torch.use_deterministic_algorithms(True, warn_only=True)
        assert not fused_kernel_usable(torch.device("cuda"), torch.bfloat16)
    finally:
        torch.use_deterministic_algorithms(before, warn_only=True)


@pytest.mark.gpu
def test_fused_kernel_matches_the_torch_implementation_on_cuda(nondeterministic) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    if not fused_kernel_usable(torch.device("cuda"), torch.bfloat16):
        pytest.skip("cut-cross-entropy (the gpu extra) is not installed")
    g = torch.Generator(device="cuda").manual_seed(0)
    s = torch.randn(4096, 64, device="cuda", generator=g).requires_grad_()
    w = (0.1 * torch.randn(20_000, 64, device="cuda", generator=g)).requires_grad_()
    t = torch.randint(0, 20_000, (4096,), device="cuda", generator=g)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fused = loss_and_grads(
            lambda *a: fused_dot_cross_entropy(*a, torch.bfloat16), s, w, t)
        fallback = loss_and_grads(lambda *a: dot_cross_entropy(*a, kernel="torch"), s, w, t)
    assert fused[0].item() == pytest.approx(fallback[0].item(), rel=1e-2)
    for mine, theirs in zip(fused[1:], fallback[1:], strict=True):
        assert (mine.float() - theirs.float()).abs().max() <= 2e-2 * theirs.abs().max()
    # Items no position targets are only pushed down: by probabilities near 1/V = 5e-5, under
    # the kernel's default gradient filter (2.4e-4), which must stay off to keep them.
    others = ~torch.isin(torch.arange(20_000, device="cuda"), t)
    mine, theirs = fused[2][others].float(), fallback[2][others].float()
    assert (mine - theirs).norm() <= 5e-2 * theirs.norm()


# -- sampled softmax ------------------------------------------------------------------------

def test_sampled_softmax_over_every_item_once_is_the_full_softmax() -> None:
    s, w, t = problem()
    every = torch.arange(len(w))
    ours = loss_and_grads(
        lambda a, b, c: corrected_softmax_loss(a, c, b, every, torch.zeros(len(w))), s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=1e-6)
    assert torch.allclose(ours[1], ref[1], atol=1e-6) and torch.allclose(ours[2], ref[2], atol=1e-6)


def test_sampled_softmax_masks_accidental_hits() -> None:
    s, w, t = problem(n=1)
    others = torch.tensor([(t.item() + 1) % len(w), (t.item() + 2) % len(w)])
    with_hit = torch.cat([others, t])
    zeros = torch.zeros(3)
    a = corrected_softmax_loss(s, t, w, with_hit, zeros)
    b = corrected_softmax_loss(s, t, w, others, zeros[:2])
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_sampled_softmax_subtracts_the_log_of_expected_counts() -> None:
    s, w, t = problem(n=3)
    candidates = torch.tensor([(x + 1) % len(w) for x in t.tolist()])
    log_expected = torch.tensor([0.5, -1.0, 2.0])
    loss = corrected_softmax_loss(s, t, w, candidates, log_expected)
    with torch.no_grad():
        pos = (s * w[t]).sum(-1)
        neg = s @ w[candidates].T - log_expected
        neg[candidates[None, :] == t[:, None]] = float("-inf")
        manual = (torch.logsumexp(torch.cat([pos[:, None], neg], 1), 1) - pos).mean()
    assert loss.item() == pytest.approx(manual.item(), rel=1e-6)


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_expected_counts_make_the_normaliser_estimate_unbiased(sampler: str) -> None:
    torch.manual_seed(0)
    counts = np.array([200, 80, 40, 20, 10, 5, 3, 2, 1, 0], dtype=float)
    loss = SampledSoftmax(counts, negatives=6, sampler=sampler, in_batch=4)
    scores = torch.linspace(2.0, -1.0, len(counts))
    # In-batch candidates are the targets of a batch drawn from the training distribution.
    pool = torch.multinomial(torch.tensor(counts / counts.sum()), 20_000, replacement=True)
    estimates = []
    for _ in range(4000):
        batch = pool[torch.randint(0, len(pool), (16,))]
        candidates, log_expected = loss.candidates(batch)
        assert len(candidates) == 4 + 6
        estimates.append(torch.exp(scores[candidates] - log_expected).sum().item())
    assert np.mean(estimates) == pytest.approx(scores.exp().sum().item(), rel=0.03)


def test_in_batch_candidates_are_expected_as_often_as_items_are_targets() -> None:
    counts, targets = np.array([10, 10, 0], dtype=float), np.array([0, 10, 10], dtype=float)
    loss = SampledSoftmax(counts, negatives=2, sampler="uniform", in_batch=4,
                          target_counts=targets)
    _, log_expected = loss.candidates(torch.tensor([1, 2, 1, 2]))
    # the in-batch items are expected 4 · 1/2 times, plus 2 · 1/3 uniform draws
    assert log_expected[:4].exp().tolist() == pytest.approx([2 + 2 / 3] * 4)


def test_target_counts_are_the_training_targets_within_the_history() -> None:
    from recsys_kit.columns import TRAIN
    from recsys_kit.data import SequenceData

    items = np.array([1, 2, 3, 4, 1, 3, 2])  # user a: 1 2 3 4 1, user b: 3 2
    data = SequenceData(user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z", "w"]),
                        offsets=np.array([0, 5, 7]), items=items,
                        split=np.full(len(items), TRAIN))
    shape = ModelShape.of(data, dim=8, max_len=3)
    # next item: a's first item (1) is never a target, nor items before its last 3 targets (2)
    assert shape.target_counts().tolist() == [0, 1, 1, 1, 1]
    shape.objective = "masked"  # BERT4Rec: any of the last 3 items, the first one included
    assert shape.target_counts().tolist() == [0, 1, 1, 2, 1]
    assert data.train_counts().tolist() == [0, 2, 2, 2, 1]


def test_popularity_proposal_reaches_every_item_and_follows_counts() -> None:
    counts = np.array([99, 0, 9], dtype=float)
    loss = SampledSoftmax(counts, negatives=4, sampler="popularity", in_batch=0)
    assert loss.proposal_probs.tolist() == pytest.approx([100 / 111, 1 / 111, 10 / 111])
    assert "proposal_probs" not in loss.state_dict()  # derived from data, not a weight


# -- gBCE and BCE ---------------------------------------------------------------------------

def test_gbce_beta_follows_the_paper() -> None:
    alpha = 256 / (3416 - 1)
    assert gbce_beta(3416, 256, 0.75) == pytest.approx(alpha * (0.75 * (1 - 1 / alpha) + 1 / alpha))
    assert gbce_beta(3416, 256, 0.0) == 1.0
    assert gbce_beta(3416, 256, 1.0) == pytest.approx(alpha)
    assert gbce_beta(10, 500, 0.75) == 1.0  # more negatives than items: every item is one


def test_gbce_is_the_weighted_binary_loss_with_hits_masked() -> None:
    s, w, t = problem(n=30, v=4)
    torch.manual_seed(3)
    loss = GeneralisedBinaryCrossEntropy(len(w), negatives=8, t=0.5, block=64)(s, t, w)
    torch.manual_seed(3)
    drawn = torch.randint(0, len(w), (8,))
    with torch.no_grad():
        pos, neg = (s * w[t]).sum(-1), s @ w[drawn].T
        neg_loss = (F.softplus(neg) * (drawn[None] != t[:, None])).sum(-1)
        beta = gbce_beta(4, 8, 0.5)
        pos, neg = pos + math.log(beta / 8), neg + math.log(beta / 8)  # the prior's offset
        neg_loss = (F.softplus(neg) * (drawn[None] != t[:, None])).sum(-1)
        manual = ((beta * F.softplus(-pos) + neg_loss) / 9).mean()
    assert (drawn[None] == t[:, None]).any()  # the check covers accidental hits
    assert loss.item() == pytest.approx(manual.item(), rel=1e-6)


def test_gbce_with_t_zero_is_bce_summed_over_negatives() -> None:
    s, w, t = problem()
    torch.manual_seed(5)
    g = GeneralisedBinaryCrossEntropy(len(w), negatives=10, t=0.0, block=64)(s, t, w)
    torch.manual_seed(5)
    b = BinaryCrossEntropy(negatives=10, block=64)(s, t, w)
    # bce averages the negatives, gbce sums them and averages over all k + 1 scores.
    torch.manual_seed(5)
    drawn = torch.randint(0, len(w), (10,))
    with torch.no_grad():
        pos, neg = (s * w[t]).sum(-1), s @ w[drawn].T
        neg_loss = F.softplus(neg).masked_fill(drawn[None] == t[:, None], 0)
        prior = math.log(1 / 10)  # gbce starts from the offset of a constant score's optimum
        g_pos = pos + prior
        g_neg = F.softplus(neg + prior).masked_fill(drawn[None] == t[:, None], 0)
    assert g.item() == pytest.approx(((F.softplus(-g_pos) + g_neg.sum(-1)) / 11).mean().item())
    assert b.item() == pytest.approx((F.softplus(-pos) + neg_loss.mean(-1)).mean().item())


def test_gbce_starts_where_a_constant_score_is_optimal() -> None:
    # Without the offset, the first steps push every item down along one shared direction
    # (256 negatives against one positive); with tied item vectors that direction swamps what
    # tells items apart, and the model stalls at popularity (ML-1M: validation NDCG@10 0.021
    # after 12 epochs, against 0.130 after 5 with the offset).
    states = torch.zeros(64, 8)
    items = torch.randn(100_000, 8)
    targets = torch.randint(0, len(items), (64,))
    criterion = GeneralisedBinaryCrossEntropy(len(items), negatives=256, t=0.75, block=8)
    criterion(states, targets, items).backward()
    assert abs(criterion.offset.grad.item()) < 1e-6


@pytest.mark.parametrize("criterion", [BinaryCrossEntropy(3, 10**9),
                                       GeneralisedBinaryCrossEntropy(6, 3, 0.75, 10**9)])
def test_a_block_past_the_batch_is_one_draw_for_the_batch(criterion) -> None:
    s, w, t = problem(n=10, v=6)
    torch.manual_seed(4)
    huge = criterion(s, t, w)  # padded to 10⁹ rows, this would not fit in memory
    criterion.block = 10
    torch.manual_seed(4)
    assert huge.item() == criterion(s, t, w).item()


def test_gbce_on_a_one_item_catalogue_is_finite() -> None:
    s, w, t = problem(n=4, v=1)
    assert math.isfinite(GeneralisedBinaryCrossEntropy(1, 8, 1.0, 4)(s, t, w).item())


def test_binary_losses_draw_negatives_per_block_of_positions() -> None:
    s, w, t = problem(n=10, v=6)
    torch.manual_seed(4)
    loss = GeneralisedBinaryCrossEntropy(len(w), negatives=3, t=0.75, block=4)(s, t, w)
    loss.backward()
    torch.manual_seed(4)
    drawn = torch.randint(0, len(w), (3, 3))  # blocks of positions 0-3, 4-7 and 8-9
    with torch.no_grad():
        per_position = drawn[torch.arange(10) // 4]  # (N, K)
        beta = gbce_beta(6, 3, 0.75)
        pos = (s * w[t]).sum(-1) + math.log(beta / 3)
        neg = torch.einsum("nd,nkd->nk", s, w[per_position]) + math.log(beta / 3)
        neg_loss = F.softplus(neg).masked_fill(per_position == t[:, None], 0).sum(-1)
        manual = ((beta * F.softplus(-pos) + neg_loss) / 4).mean()
    assert len({tuple(row) for row in drawn.tolist()}) > 1  # the blocks' draws differ
    assert (per_position == t[:, None]).any()  # and the check covers accidental hits
    assert loss.item() == pytest.approx(manual.item(), rel=1e-6)
    assert s.grad.abs().sum() > 0 and w.grad.abs().sum() > 0


# -- SCE ------------------------------------------------------------------------------------

@pytest.mark.parametrize("buckets", [1, 3])
def test_sce_with_every_state_and_item_in_each_bucket_is_the_full_softmax(buckets: int) -> None:
    s, w, t = problem()
    sce = ScalableCrossEntropy(buckets, len(s), len(w), mix_states=True)
    ours = loss_and_grads(lambda a, b, c: sce(a, c, b), s, w, t)
    ref = loss_and_grads(reference, s, w, t)
    assert ours[0].item() == pytest.approx(ref[0].item(), rel=1e-5)
    assert torch.allclose(ours[1], ref[1], atol=1e-5) and torch.allclose(ours[2], ref[2], atol=1e-5)


@pytest.mark.parametrize("mix_states", [True, False])
def test_sce_keeps_a_subset_of_negatives_and_trains_both_sides(mix_states: bool) -> None:
    s, w, t = problem(n=64, v=200, d=8)
    sce = ScalableCrossEntropy(None, 64, 16, mix_states=mix_states)
    top_states, top_items = sce.bucket_members(s.detach(), w.detach())
    assert top_states.shape == (16, 64) and top_items.shape == (16, 16)  # 2·√64 buckets
    loss, gs, gw = loss_and_grads(lambda a, b, c: sce(a, c, b), s, w, t)
    assert torch.isfinite(loss) and loss.item() < reference(s, w, t).item()  # fewer negatives
    assert gs.abs().sum() > 0 and gw.abs().sum() > 0


def test_sce_averages_over_the_states_in_a_bucket_only() -> None:
    s, w, t = problem(n=40, v=25)
    sce = ScalableCrossEntropy(1, 10, 25, mix_states=True)  # one bucket: 10 states, all items
    torch.manual_seed(3)
    (members,), _ = sce.bucket_members(s.detach(), w.detach())
    torch.manual_seed(3)
    loss, gs, _ = loss_and_grads(lambda a, b, c: sce(a, c, b), s, w, t)
    expected = F.cross_entropy(s.detach()[members] @ w.detach().T, t[members])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    outside = torch.ones(len(s), dtype=torch.bool)
    outside[members] = False
    assert gs[outside].abs().sum() == 0 and gs[members].abs().sum(1).gt(0).all()


def test_sce_buckets_hold_the_highest_scoring_items() -> None:
    s, w, _ = problem(n=16, v=100)
    sce = ScalableCrossEntropy(4, 4, 10, mix_states=False)
    torch.manual_seed(7)
    _, top_items = sce.bucket_members(s.detach(), w.detach())
    torch.manual_seed(7)
    directions = torch.randn(4, 8)
    best = (directions @ w.detach().T).topk(10, dim=1).indices
    assert torch.equal(top_items.sort(1).values, best.sort(1).values)


def test_sce_never_counts_the_target_as_a_negative() -> None:
    s, w, t = problem(n=8, v=3)
    sce = ScalableCrossEntropy(2, 8, 3, mix_states=True)
    assert sce(s, t, w).item() == pytest.approx(reference(s, w, t).item(), rel=1e-5)


# -- the scorer -----------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["cross_entropy", "sampled_softmax", "gbce", "sce", "bce"])
def test_every_dot_loss_gives_finite_gradients_to_states_and_items(loss: str) -> None:
    shape = ModelShape(30, 8, 4, np.arange(31, dtype=float))
    scorer = Dot(DotConfig(loss=loss, negatives=5, in_batch=4, buckets=3, bucket_items=6), shape)
    torch.manual_seed(0)
    states = torch.randn(12, 8, requires_grad=True)
    table = torch.randn(32, 8, requires_grad=True)
    targets = torch.randint(1, 31, (12,))
    value = scorer.loss(states, targets, table)
    value.backward()
    assert value.ndim == 0 and math.isfinite(value.item())
    assert states.grad.abs().sum() > 0 and table.grad[1:31].abs().sum() > 0
    # padding and mask rows are never candidates
    assert table.grad[0].abs().sum() == 0 and table.grad[31].abs().sum() == 0
    # no positions: a loss of 0 (a mean over nothing would be NaN), and no gradient
    states.grad = table.grad = None
    empty = scorer.loss(states[:0], targets[:0], table)
    empty.backward()
    assert empty.item() == 0 and table.grad.abs().sum() == 0
