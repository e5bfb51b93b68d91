"""Property tests of the costing (plain Python, no database): whatever sequence of receipts, sales,
returns, adjustments and late costs, quantity and value stay consistent; moving average and FIFO
agree on totals once all stock is sold."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from integrator.services.inventory.costing import AVERAGE, FIFO, CostPool

quantities = st.integers(min_value=1, max_value=50).map(D)
values = st.integers(min_value=0, max_value=100_000).map(lambda n: D(n) / 100)
operation = st.one_of(
    st.tuples(st.just("receive"), quantities, values),
    st.tuples(st.just("sell"), quantities, st.just(D(0))),
    st.tuples(st.just("return"), quantities, values),
    st.tuples(st.just("late"), st.integers(min_value=0, max_value=5).map(D), values),
    st.tuples(st.just("write_off"), quantities, st.just(D(0))),
)


def _run(method: str, ops: list[tuple[str, D, D]]) -> tuple[CostPool, D, D]:
    """Apply the operations; returns the pool, value put in and value taken out (COGS and the like)."""
    pool = CostPool(method=method)
    put_in = taken_out = D(0)
    receipts = 0
    for kind, qty, value in ops:
        if kind in ("receive", "return"):
            receipts += 1
            done = pool.receive(qty, value, f"lot{receipts}")
            put_in += done.value
            taken_out += done.correction
        elif kind in ("sell", "write_off"):
            taken_out += pool.issue(qty).cost
        else:
            split = pool.add_late_cost(f"lot{int(qty)}", value)
            put_in += split.capitalised + split.expensed
            taken_out += split.expensed
        _consistent(pool)
    return pool, put_in, taken_out


def _consistent(pool: CostPool) -> None:
    """The invariants after every step."""
    assert pool.quantity == pool.on_hand - pool.short_quantity
    assert all(lot.quantity > 0 for lot in pool.lots)
    assert pool.on_hand == 0 or pool.short_quantity == 0  # never both stock and a shortfall
    assert pool.value == sum((lot.value for lot in pool.lots), D(0)) - pool.short_value
    if pool.quantity == 0:
        assert pool.value == 0  # the issue that empties stock takes the whole value
    assert all(lot.value == lot.value.quantize(D("0.01")) for lot in pool.lots)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40), st.sampled_from([AVERAGE, FIFO]))
def test_quantity_and_value_never_go_inconsistent(ops: list[tuple[str, D, D]], method: str) -> None:
    # Given any sequence of movements, when applied, then value in = value out + value held
    pool, put_in, taken_out = _run(method, ops)
    assert put_in == taken_out + pool.value


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=40))
def test_average_and_fifo_agree_on_totals_once_all_stock_is_sold(ops: list[tuple[str, D, D]]) -> None:
    # Given the same movements under both methods
    results = []
    for method in (AVERAGE, FIFO):
        pool, put_in, taken_out = _run(method, ops)
        # When whatever is left is sold (a shortfall waits for a receipt that never comes: receive it)
        if pool.quantity > 0:
            taken_out += pool.issue(pool.quantity).cost
        elif pool.quantity < 0:
            done = pool.receive(-pool.quantity, D("0"), "final")
            taken_out += done.correction
        results.append((pool.quantity, pool.value, put_in, taken_out))
    # Then both have nothing left and have expensed exactly what came in
    (q1, v1, in1, out1), (q2, v2, in2, out2) = results
    assert q1 == q2 == 0 and v1 == v2 == 0
    assert out1 == in1 and out2 == in2


def test_oversold_units_are_corrected_by_the_next_receipt() -> None:
    # Given 10 units at 5.00 received and 12 sold (2 oversold at the last cost, 5.00 each)
    pool = CostPool()
    pool.receive(D(10), D("50.00"), "a")
    assert pool.issue(D(12)).cost == D("60.00")
    assert (pool.quantity, pool.value) == (D(-2), D("-10.00"))
    # When 8 units arrive at 6.00 each
    done = pool.receive(D(8), D("48.00"), "b")
    # Then the 2 oversold cost 12.00, not 10.00: 2.00 more COGS; 6 left at 36.00
    assert done.correction == D("2.00")
    assert (pool.quantity, pool.value) == (D(6), D("36.00"))


def test_fifo_takes_the_oldest_lots_and_average_the_mean() -> None:
    # Given 10 at 1.00 then 10 at 2.00
    for method, expected in ((FIFO, D("10.00")), (AVERAGE, D("15.00"))):
        pool = CostPool(method=method)
        pool.receive(D(10), D("10.00"), "a")
        pool.receive(D(10), D("20.00"), "b")
        # When 10 are sold, then FIFO costs the first lot, average the mean
        assert pool.issue(D(10)).cost == expected
