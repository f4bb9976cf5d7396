"""``SeqBatch``: target positions selected on the host give what boolean indexing gives."""

import pytest
import torch

from chronorec.data.batches import SeqBatch


def test_select_by_host_positions_equals_boolean_indexing():
    items = torch.tensor([[0, 0, 3, 4], [0, 5, 6, 7]])
    batch = SeqBatch(items, items * 10)
    values = torch.arange(2 * 4 * 3).reshape(2, 4, 3)
    with_positions = SeqBatch(
        items, items * 10, positions=batch.mask.flatten().nonzero().squeeze(1)
    )
    torch.testing.assert_close(with_positions.select(values), values[batch.mask])
    torch.testing.assert_close(batch.select(values), values[batch.mask])
    assert batch[:1].positions is None  # a row slice never keeps stale positions


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_moved_to_cuda_carry_their_target_positions():
    items = torch.tensor([[0, 0, 3, 4], [0, 5, 6, 7]])
    moved = SeqBatch(items, items * 10).to("cuda", non_blocking=True)
    assert moved.positions is not None and moved.positions.device.type == "cuda"
    torch.testing.assert_close(moved.select(moved.items).cpu(), items[items != 0])


def test_drop_items_compacts_rows_and_keeps_the_moment_of_prediction():
    from chronorec.data.batches import drop_items

    batch = SeqBatch(
        torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [2, 2, 5, 5]]),
        torch.tensor([[0, 10, 20, 30], [1, 2, 3, 4], [7, 8, 9, 10]]),
        torch.tensor([[0, 1, 2, 1], [1, 1, 2, 2], [1, 2, 1, 2]]),
    )
    keep = torch.tensor([True, True, False, True, True, False, True, True])  # items 2 and 5 dropped
    out = drop_items(batch, keep)
    assert out.items.tolist() == [[0, 0, 1, 3], [0, 4, 6, 7], [0, 0, 0, 0]]
    assert out.timestamps.tolist() == [[0, 0, 10, 30], [0, 1, 3, 4], [0, 0, 0, 0]]
    assert out.event_types.tolist() == [[0, 0, 1, 1], [0, 1, 2, 2], [0, 0, 0, 0]]
    assert out.query_time.tolist() == [
        30,
        4,
        10,
    ]  # the latest event's time, even when it was dropped
    assert drop_items(batch, torch.ones(8, dtype=torch.bool)) is batch


def test_focus_on_new_keeps_every_new_window_and_draws_that_many_old_ones(ring_dataset):
    import torch

    from chronorec.data.batches import focus_on_new, train_windows
    from chronorec.data.split import leave_one_out

    windows = train_windows(ring_dataset, leave_one_out(ring_dataset).train_end, max_len=5)
    since = int(torch.quantile(windows.timestamps[:, -1].double(), 0.8))
    is_new = windows.timestamps[:, -1] >= since
    focused = focus_on_new(windows, since, old_per_new=1.0)
    assert int((focused.timestamps[:, -1] >= since).sum()) == int(is_new.sum())
    assert len(focused) == 2 * int(is_new.sum())
    assert torch.equal(focus_on_new(windows, since, 1.0).items, focused.items)  # a fixed draw
    everything = focus_on_new(windows, since, old_per_new=1e9)
    assert torch.equal(everything.items, windows.items)  # all old windows, in their order
