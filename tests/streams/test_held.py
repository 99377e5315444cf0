"""The frames a replaying subscription holds (streams/consumers.py `Held`): first in, first out."""

from streams.consumers import Held, Subscription


def _frame(seq: int) -> tuple[int, dict]:
    return seq, {"type": "websocket.send", "text": str(seq)}


def test_held_frames_come_out_in_the_order_they_went_in_even_when_more_arrive_meanwhile():
    held = Held()
    for seq in (1, 2, 3):
        held.append(_frame(seq))
    out = []
    while held:
        seq, _message = held.popleft()
        out.append(seq)
        if seq == 2:
            held.append(_frame(4))
    assert out == [1, 2, 3, 4]
    assert len(held) == 0
    held.append(_frame(5))
    assert [held.popleft()[0]] == [5]
    assert not held


def test_a_cleared_hold_is_empty_and_holds_again():
    held = Held()
    held.append(_frame(1))
    held.clear()
    assert not held
    held.append(_frame(2))
    assert held.popleft()[0] == 2


def test_a_subscription_carries_no_dict_of_its_own():
    assert not hasattr(Subscription.__new__(Subscription), "__dict__")
