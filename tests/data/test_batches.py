"""``SeqBatch``: target positions selected on the host give what boolean indexing gives."""

import pytest
import torch

from chronorec.data.batches import SeqBatch


def test_select_by_host_positions_equals_boolean_indexing():
    items = torch.tensor([[0, 0, 3, 4], [0, 5, 6, 7]])
    batch = SeqBatch(items, items * 10)
    values = torch.arange(2 * 4 * 3).reshape(2, 4, 3)
    with_positions = SeqBatch(items, items * 10, positions=batch.mask.flatten().nonzero().squeeze(1))
    torch.testing.assert_close(with_positions.select(values), values[batch.mask])
    torch.testing.assert_close(batch.select(values), values[batch.mask])
    assert batch[:1].positions is None  # a row slice never keeps stale positions


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_moved_to_cuda_carry_their_target_positions():
    items = torch.tensor([[0, 0, 3, 4], [0, 5, 6, 7]])
    moved = SeqBatch(items, items * 10).to("cuda", non_blocking=True)
    assert moved.positions is not None and moved.positions.device.type == "cuda"
    torch.testing.assert_close(moved.select(moved.items).cpu(), items[items != 0])
