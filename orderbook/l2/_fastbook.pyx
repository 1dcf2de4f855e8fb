# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""An exact L2 book over integer ticks: the QuantCup price-array layout for market data.

Prices and sizes are scaled 64-bit integers (``price_decimals`` / ``size_decimals`` decimal places), so the book
is exact like :class:`orderbook.l2.book.L2Book` but every update is an array store. Each side has its own window:
a zeroed array of sizes indexed by ``tick - lo`` that grows (doubling) and re-centres when a level lands outside
it, refusing with :class:`BookDataError` any price that would make the window span more than ``max_ticks``. The
best index of each side moves on an insert that improves it and, when the best level is removed, scans to the
next non-empty level; a per-side level count makes ``depth`` O(1).

Decimal strings are parsed exactly: digits with at most one ``.``; digits past the configured decimals are
accepted only if they are zeros (venues pad, e.g. ``"0.01000000"``). A sign, an exponent, whitespace, anything
else, or a value that does not fit is a :class:`BookDataError` and leaves the book unchanged.
"""

from libc.stdint cimport int8_t, int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from decimal import Context, Decimal

from orderbook.l2.book import BookDataError

cdef int64_t INT64_MAX = 9223372036854775807
cdef int64_t MAX_PRICE_TICKS = 4611686018427387903  # 2**62 - 1: windows never come near int64 overflow
cdef int64_t INITIAL_TICKS = 4096
_CONTEXT = Context(prec=60)  # exact for any int64 scaled by any configured decimals


cdef int64_t _scaled(str text, int decimals, str what) except -1:
    """``text`` as an integer count of 10**-decimals units; BookDataError unless it is exactly that."""
    cdef Py_ssize_t n = len(text), i
    cdef Py_UCS4 c
    cdef int64_t value = 0, digit
    cdef int frac = -1  # digits kept after the point; -1 before the point
    cdef bint seen = False
    for i in range(n):
        c = text[i]
        if 48 <= c <= 57:  # '0'..'9'
            seen = True
            digit = <int64_t> c - 48
            if frac >= 0:
                if frac >= decimals:
                    if digit != 0:
                        raise BookDataError(f"{what} has more than {decimals} decimals: {text!r}")
                    continue
                frac += 1
            if value > (INT64_MAX - digit) // 10:
                raise BookDataError(f"{what} does not fit in 64 bits at {decimals} decimals: {text!r}")
            value = value * 10 + digit
        elif c == 46 and frac < 0:  # '.'
            frac = 0
        else:
            raise BookDataError(f"{what} is not a plain non-negative decimal: {text!r}")
    if not seen:
        raise BookDataError(f"{what} is not a plain non-negative decimal: {text!r}")
    if frac < 0:
        frac = 0
    while frac < decimals:
        if value > INT64_MAX // 10:
            raise BookDataError(f"{what} does not fit in 64 bits at {decimals} decimals: {text!r}")
        value *= 10
        frac += 1
    return value


cdef class FastBook:
    cdef int64_t* sizes[2]
    cdef int64_t lo[2]  # tick of sizes[side][0]
    cdef int64_t cap[2]  # window length in ticks (0: no window yet)
    cdef int64_t best_tick[2]  # meaningful only when count[side] > 0
    cdef Py_ssize_t count[2]
    cdef readonly int price_decimals
    cdef readonly int size_decimals
    cdef readonly int64_t max_ticks

    def __cinit__(self, int price_decimals, int size_decimals, int64_t max_ticks=50_000_000):
        if not (0 <= price_decimals <= 18 and 0 <= size_decimals <= 18):
            raise ValueError("price_decimals and size_decimals must be between 0 and 18")
        if not 1 <= max_ticks <= 2**61:
            raise ValueError(f"max_ticks must be between 1 and 2**61, got {max_ticks}")
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.max_ticks = max_ticks
        cdef int s
        for s in range(2):
            self.sizes[s] = NULL
            self.lo[s] = 0
            self.cap[s] = 0
            self.best_tick[s] = 0
            self.count[s] = 0

    def __dealloc__(self):
        free(self.sizes[0])
        free(self.sizes[1])

    # --- the window ------------------------------------------------------------------------------------------------

    cdef int _ensure(self, int s, int64_t need_lo, int64_t need_hi) except -1:
        """Make side ``s``'s window cover ticks [need_lo, need_hi] (with the levels it holds), or refuse."""
        cdef int64_t lo = self.lo[s], cap = self.cap[s], occ_lo = 0, occ_hi = -1, i, span, new_cap, new_lo
        cdef int64_t* old = self.sizes[s]
        cdef int64_t* grown
        if cap > 0 and need_lo >= lo and need_hi - lo < cap:
            return 0
        if self.count[s] > 0:
            if s == 0:
                occ_hi = self.best_tick[0]
                i = 0
                while old[i] == 0:
                    i += 1
                occ_lo = lo + i
            else:
                occ_lo = self.best_tick[1]
                i = cap - 1
                while old[i] == 0:
                    i -= 1
                occ_hi = lo + i
            if occ_lo < need_lo:
                need_lo = occ_lo
            if occ_hi > need_hi:
                need_hi = occ_hi
        span = need_hi - need_lo + 1
        if span > self.max_ticks:
            raise BookDataError(
                f"a level at tick {need_lo if need_lo < lo else need_hi} would make the "
                f"{'bid' if s == 0 else 'ask'} window span {span} ticks, more than max_ticks={self.max_ticks}"
            )
        new_cap = 2 * span
        if new_cap < cap:
            new_cap = cap
        if new_cap < INITIAL_TICKS:
            new_cap = INITIAL_TICKS
        if new_cap > self.max_ticks:
            new_cap = self.max_ticks
        new_lo = need_lo - (new_cap - span) // 2
        if new_lo < 0:
            new_lo = 0
        if self.count[s] == 0 and new_cap == cap:
            self.lo[s] = new_lo  # an empty window is all zeros: re-centre in place
            return 0
        grown = <int64_t*> calloc(<size_t> new_cap, sizeof(int64_t))
        if grown == NULL:
            raise MemoryError()
        if self.count[s] > 0:
            memcpy(grown + (occ_lo - new_lo), old + (occ_lo - lo), <size_t> (occ_hi - occ_lo + 1) * sizeof(int64_t))
        free(old)
        self.sizes[s] = grown
        self.lo[s] = new_lo
        self.cap[s] = new_cap
        return 0

    # --- updates ---------------------------------------------------------------------------------------------------

    cdef inline int _set(self, int s, int64_t price, int64_t size) except -1:
        cdef int64_t i, lo
        cdef int64_t* sizes
        if size == 0:
            lo = self.lo[s]
            if price < lo or price - lo >= self.cap[s]:
                return 0
            sizes = self.sizes[s]
            i = price - lo
            if sizes[i] == 0:
                return 0
            sizes[i] = 0
            self.count[s] -= 1
            if self.count[s] > 0 and price == self.best_tick[s]:
                if s == 0:
                    i -= 1
                    while sizes[i] == 0:
                        i -= 1
                else:
                    i += 1
                    while sizes[i] == 0:
                        i += 1
                self.best_tick[s] = lo + i
            return 0
        lo = self.lo[s]
        if price < lo or price - lo >= self.cap[s]:
            self._ensure(s, price, price)
            lo = self.lo[s]
        sizes = self.sizes[s]
        i = price - lo
        if sizes[i] == 0:
            self.count[s] += 1
            if self.count[s] == 1 or (price > self.best_tick[s] if s == 0 else price < self.best_tick[s]):
                self.best_tick[s] = price
        sizes[i] = size
        return 0

    def apply(self, int side, str price, str size):
        """Set the aggregate size at ``price`` (decimal strings); a size of zero removes the level."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        cdef int64_t price_ticks = _scaled(price, self.price_decimals, "price")
        cdef int64_t size_units = _scaled(size, self.size_decimals, "size")
        if price_ticks == 0 or price_ticks > MAX_PRICE_TICKS:
            raise BookDataError(f"price must be positive and below 2**62 ticks, got {price!r}")
        self._set(side, price_ticks, size_units)

    def apply_ticks(self, int side, int64_t price_ticks, int64_t size_units):
        """``apply`` with the price in ticks and the size in units (no parsing)."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        if price_ticks <= 0 or price_ticks > MAX_PRICE_TICKS or size_units < 0:
            raise BookDataError(f"price must be in [1, 2**62) ticks and size non-negative: {price_ticks}, {size_units}")
        self._set(side, price_ticks, size_units)

    def apply_many_ticks(self, const int8_t[:] sides, const int64_t[:] prices, const int64_t[:] sizes):
        """Apply a batch of tick updates in order. The whole batch is checked first, and each side's window made to
        cover all of the batch's inserts at once, so a refused batch changes nothing (a batch whose inserts together
        span more than ``max_ticks`` is refused even if applying it one by one would not have been)."""
        cdef Py_ssize_t n = sides.shape[0], i
        cdef int64_t lo[2]
        cdef int64_t hi[2]
        cdef int s
        if prices.shape[0] != n or sizes.shape[0] != n:
            raise ValueError("sides, prices and sizes must have the same length")
        lo[0] = lo[1] = MAX_PRICE_TICKS + 1
        hi[0] = hi[1] = 0
        for i in range(n):
            s = sides[i]
            if s != 0 and s != 1:
                raise ValueError(f"update {i}: side must be 0 (bid) or 1 (ask), got {s}")
            if prices[i] <= 0 or prices[i] > MAX_PRICE_TICKS or sizes[i] < 0:
                raise BookDataError(f"update {i}: price must be in [1, 2**62) ticks and size non-negative")
            if sizes[i] > 0:
                if prices[i] < lo[s]:
                    lo[s] = prices[i]
                if prices[i] > hi[s]:
                    hi[s] = prices[i]
        for s in range(2):
            if hi[s] > 0:
                self._ensure(s, lo[s], hi[s])
        for i in range(n):
            self._set(sides[i], prices[i], sizes[i])

    def clear(self):
        cdef int s
        for s in range(2):
            free(self.sizes[s])
            self.sizes[s] = NULL
            self.lo[s] = 0
            self.cap[s] = 0
            self.count[s] = 0

    def truncate(self, Py_ssize_t depth):
        """Keep only the best ``depth`` levels of each side."""
        if depth < 0:
            raise ValueError(f"depth must be non-negative, got {depth}")
        cdef int s
        cdef Py_ssize_t kept, seen
        cdef int64_t i, step
        cdef int64_t* sizes
        for s in range(2):
            if self.count[s] <= depth:
                continue
            sizes = self.sizes[s]
            step = -1 if s == 0 else 1
            i = self.best_tick[s] - self.lo[s]
            kept = seen = 0
            while seen < self.count[s]:
                if sizes[i] != 0:
                    seen += 1
                    if kept < depth:
                        kept += 1
                    else:
                        sizes[i] = 0
                i += step
            self.count[s] = kept

    # --- reads -----------------------------------------------------------------------------------------------------

    cdef object _price(self, int64_t ticks):
        return Decimal(ticks).scaleb(-self.price_decimals, _CONTEXT)

    cdef object _size(self, int64_t units):
        return Decimal(units).scaleb(-self.size_decimals, _CONTEXT)

    def best_ticks(self, int side):
        """(price ticks, size units) of the side's best level, or None."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        if self.count[side] == 0:
            return None
        cdef int64_t tick = self.best_tick[side]
        return (tick, self.sizes[side][tick - self.lo[side]])

    def best(self, int side):
        """(price, size) of the side's best level as exact Decimals, or None."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        if self.count[side] == 0:
            return None
        cdef int64_t tick = self.best_tick[side]
        return (self._price(tick), self._size(self.sizes[side][tick - self.lo[side]]))

    def best_bid(self):
        return self.best(0)

    def best_ask(self):
        return self.best(1)

    def levels_ticks(self, int side, object depth=None):
        """The side's levels as (price ticks, size units), best first; at most ``depth`` of them."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        cdef Py_ssize_t limit = self.count[side] if depth is None else min(<Py_ssize_t> depth, self.count[side])
        cdef list out = []
        cdef int64_t i, step = -1 if side == 0 else 1, lo = self.lo[side]
        cdef int64_t* sizes = self.sizes[side]
        if limit <= 0:
            return out
        i = self.best_tick[side] - lo
        while len(out) < limit:
            if sizes[i] != 0:
                out.append((lo + i, sizes[i]))
            i += step
        return out

    def levels(self, int side, object depth=None):
        """The side's levels as exact Decimal (price, size) pairs, best first; at most ``depth`` of them."""
        return [(self._price(tick), self._size(units)) for tick, units in self.levels_ticks(side, depth)]

    def size(self, int side, str price):
        """The aggregate size resting at ``price``, or None if the side has no level there."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        cdef int64_t tick = _scaled(price, self.price_decimals, "price")
        cdef int64_t lo = self.lo[side]
        if tick < lo or tick - lo >= self.cap[side] or self.sizes[side][tick - lo] == 0:
            return None
        return self._size(self.sizes[side][tick - lo])

    def depth(self, int side):
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        return self.count[side]

    def is_crossed(self):
        return self.count[0] > 0 and self.count[1] > 0 and self.best_tick[0] >= self.best_tick[1]

    def window(self, int side):
        """(lowest tick, length in ticks) of the side's array: for tests and memory accounting."""
        if side != 0 and side != 1:
            raise ValueError(f"side must be 0 (bid) or 1 (ask), got {side}")
        return (self.lo[side], self.cap[side])
