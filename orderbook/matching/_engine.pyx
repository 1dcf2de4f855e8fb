# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled matching engine: the QuantCup 1 winner's layout in Cython.

One FIFO list per integer price tick (at any tick only one side can rest, since the book is never crossed),
orders in an arena indexed by order id, and best-bid / best-ask pointers that only ever move as far as an
incoming order's limit. A cancel zeroes the order's size where it stands; matching skips zero-size entries,
so a cancel costs O(1). Semantics are those of ``orderbook.matching.reference`` (its docstring is the spec);
the differential tests hold the two to identical outputs.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int8_t, int32_t, int64_t
from libc.string cimport memset

from array import array

from orderbook.matching.reference import OrderRejected, order_check

cdef int64_t MAX_SIZE = 9223372036854775807  # 2**63 - 1, as reference.MAX_SIZE

cdef void* _resized(void* block, size_t size) except NULL:
    """``block`` reallocated to ``size`` bytes; on failure the old block stays valid (and owned by the engine)."""
    cdef void* grown = PyMem_Realloc(block, size)
    if grown == NULL:
        raise MemoryError()
    return grown


cdef enum:
    NPRICES = 65536
    BUY = 0
    SELL = 1
    KIND_LIMIT = 0
    KIND_CANCEL = 1


cdef class MatchingEngine:
    # Orders, indexed by id (slot 0 is "none").
    cdef int64_t* order_size
    cdef int32_t* order_next
    cdef int32_t* order_trader
    cdef int8_t* order_side
    cdef Py_ssize_t order_capacity
    cdef int32_t next_id
    # Price levels.
    cdef int32_t* head
    cdef int32_t* tail
    cdef int32_t bid_max
    cdef int32_t ask_min
    cdef bint aggressor_price
    # Executions since the last take: message sequence number, trader, side, price, size.
    cdef int64_t* ex_msg
    cdef int32_t* ex_trader
    cdef int8_t* ex_side
    cdef int32_t* ex_price
    cdef int64_t* ex_size
    cdef Py_ssize_t ex_len
    cdef Py_ssize_t ex_capacity
    cdef int64_t message_count
    cdef list trader_names
    cdef dict trader_codes

    def __cinit__(self, str price_rule="maker"):
        if price_rule not in ("maker", "aggressor"):
            raise ValueError(f"price_rule must be one of ('maker', 'aggressor'), got {price_rule!r}")
        self.aggressor_price = price_rule == "aggressor"
        self.head = <int32_t*> PyMem_Malloc(NPRICES * sizeof(int32_t))
        self.tail = <int32_t*> PyMem_Malloc(NPRICES * sizeof(int32_t))
        if self.head == NULL or self.tail == NULL:
            raise MemoryError()
        memset(self.head, 0, NPRICES * sizeof(int32_t))
        memset(self.tail, 0, NPRICES * sizeof(int32_t))
        self.bid_max = 0
        self.ask_min = NPRICES
        self.next_id = 1
        self.order_capacity = 0
        self.ex_len = 0
        self.ex_capacity = 0
        self.message_count = 0
        self.trader_names = []
        self.trader_codes = {}
        self._grow_orders(1024)
        self._grow_executions(1024)

    def __dealloc__(self):
        PyMem_Free(self.head)
        PyMem_Free(self.tail)
        PyMem_Free(self.order_size)
        PyMem_Free(self.order_next)
        PyMem_Free(self.order_trader)
        PyMem_Free(self.order_side)
        PyMem_Free(self.ex_msg)
        PyMem_Free(self.ex_trader)
        PyMem_Free(self.ex_side)
        PyMem_Free(self.ex_price)
        PyMem_Free(self.ex_size)

    cdef int _grow_orders(self, Py_ssize_t capacity) except -1:
        self.order_size = <int64_t*> _resized(self.order_size, capacity * sizeof(int64_t))
        self.order_next = <int32_t*> _resized(self.order_next, capacity * sizeof(int32_t))
        self.order_trader = <int32_t*> _resized(self.order_trader, capacity * sizeof(int32_t))
        self.order_side = <int8_t*> _resized(self.order_side, capacity * sizeof(int8_t))
        self.order_capacity = capacity
        return 0

    cdef int _grow_executions(self, Py_ssize_t capacity) except -1:
        self.ex_msg = <int64_t*> _resized(self.ex_msg, capacity * sizeof(int64_t))
        self.ex_trader = <int32_t*> _resized(self.ex_trader, capacity * sizeof(int32_t))
        self.ex_side = <int8_t*> _resized(self.ex_side, capacity * sizeof(int8_t))
        self.ex_price = <int32_t*> _resized(self.ex_price, capacity * sizeof(int32_t))
        self.ex_size = <int64_t*> _resized(self.ex_size, capacity * sizeof(int64_t))
        self.ex_capacity = capacity
        return 0

    cdef inline int _execute(self, int32_t buyer, int32_t seller, int32_t price, int64_t size) except -1:
        cdef Py_ssize_t n = self.ex_len
        if n + 2 > self.ex_capacity:
            self._grow_executions(self.ex_capacity * 2)
        self.ex_msg[n] = self.message_count
        self.ex_trader[n] = buyer
        self.ex_side[n] = BUY
        self.ex_price[n] = price
        self.ex_size[n] = size
        self.ex_msg[n + 1] = self.message_count
        self.ex_trader[n + 1] = seller
        self.ex_side[n + 1] = SELL
        self.ex_price[n + 1] = price
        self.ex_size[n + 1] = size
        self.ex_len = n + 2
        return 0

    cdef int32_t _limit(self, int32_t trader, int side, int32_t price, int64_t size) except -1:
        cdef int32_t order_id = self.next_id
        cdef int32_t level, resting, at
        cdef int64_t available, fill
        # Callers have validated side, price and size (limit: order_check; replay: the whole batch first).
        if order_id == 2147483647:
            raise OverflowError("order ids would pass 2**31 - 1")
        if order_id >= self.order_capacity:
            self._grow_orders(self.order_capacity * 2)
        self.next_id += 1
        if side == BUY:
            while size > 0 and self.ask_min <= price:
                level = self.ask_min
                resting = self.head[level]
                at = price if self.aggressor_price else level
                while resting != 0 and size > 0:
                    available = self.order_size[resting]
                    if available == 0:
                        resting = self.order_next[resting]
                        continue
                    fill = size if size < available else available
                    self._execute(trader, self.order_trader[resting], at, fill)
                    size -= fill
                    self.order_size[resting] = available - fill
                    if available == fill:
                        resting = self.order_next[resting]
                self.head[level] = resting
                if resting == 0:
                    self.tail[level] = 0
                    self.ask_min += 1
        else:
            while size > 0 and self.bid_max >= price:
                level = self.bid_max
                resting = self.head[level]
                at = price if self.aggressor_price else level
                while resting != 0 and size > 0:
                    available = self.order_size[resting]
                    if available == 0:
                        resting = self.order_next[resting]
                        continue
                    fill = size if size < available else available
                    self._execute(self.order_trader[resting], trader, at, fill)
                    size -= fill
                    self.order_size[resting] = available - fill
                    if available == fill:
                        resting = self.order_next[resting]
                self.head[level] = resting
                if resting == 0:
                    self.tail[level] = 0
                    self.bid_max -= 1
        self.order_size[order_id] = size
        self.order_trader[order_id] = trader
        self.order_side[order_id] = side
        self.order_next[order_id] = 0
        if size > 0:
            if self.head[price] == 0:
                self.head[price] = order_id
            else:
                self.order_next[self.tail[price]] = order_id
            self.tail[price] = order_id
            if side == BUY:
                if price > self.bid_max:
                    self.bid_max = price
            elif price < self.ask_min:
                self.ask_min = price
        self.message_count += 1
        return order_id

    cdef inline void _cancel(self, int64_t order_id) noexcept:
        # Unknown, filled, cancelled and not-yet-issued ids are no-ops; an issued id's size drops to zero.
        if 0 < order_id < self.next_id:
            self.order_size[order_id] = 0
        self.message_count += 1

    cpdef int32_t trader_code(self, str trader) except -1:
        """The engine's number for ``trader`` (numbered in order of first appearance)."""
        code = self.trader_codes.get(trader)
        if code is None:
            code = len(self.trader_names)
            self.trader_codes[trader] = code
            self.trader_names.append(trader)
        return code

    def limit(self, str trader, object side, object price, object size) -> int:
        """Submit a limit order; returns its id (1, 2, 3…). Fills are buffered: see ``take_executions``.

        Arguments are checked as Python integers before any conversion to C, so an oversized or fractional
        value is an ``OrderRejected`` that takes no id and registers no trader.
        """
        if not (type(side) is int and type(price) is int and type(size) is int
                and (side == BUY or side == SELL) and 1 <= price < NPRICES and 1 <= size <= MAX_SIZE):
            order_check(side, price, size)  # raises with the reason
        cdef object code = self.trader_codes.get(trader)
        if code is None:
            code = self.trader_code(trader)
        return self._limit(code, side, price, size)

    def cancel(self, object order_id) -> None:
        """Cancel an issued, still resting order; any other id (unknown, filled, future, huge) does nothing."""
        if type(order_id) is int and 0 < order_id < self.next_id:
            self._cancel(order_id)
        else:
            self.message_count += 1

    def replay(self, const int8_t[:] kinds, const int32_t[:] traders, const int8_t[:] sides,
               const int32_t[:] prices, const int64_t[:] sizes_or_ids):
        """Run a whole feed. ``traders`` are codes from ``trader_code``; for a cancel, ``sizes_or_ids`` holds
        the id. Returns an ``array('i')`` of the id each message's limit order got (0 for a cancel)."""
        cdef Py_ssize_t n = kinds.shape[0], i
        if not (traders.shape[0] == sides.shape[0] == prices.shape[0] == sizes_or_ids.shape[0] == n):
            raise ValueError("every column of the feed must have the same length")
        cdef Py_ssize_t known = len(self.trader_names)
        # The whole batch is checked before any of it is applied: a bad message changes nothing.
        for i in range(n):
            if kinds[i] == KIND_LIMIT:
                if not 0 <= traders[i] < known:
                    raise ValueError(f"message {i}: trader code {traders[i]} was not issued by trader_code()")
                if not ((sides[i] == BUY or sides[i] == SELL) and 1 <= prices[i] < NPRICES and sizes_or_ids[i] >= 1):
                    order_check(sides[i], prices[i], sizes_or_ids[i])
                    raise OrderRejected(f"message {i}: invalid order")  # unreachable: order_check raised
            elif kinds[i] != KIND_CANCEL:
                raise ValueError(f"message {i}: kind must be 0 (limit) or 1 (cancel), got {kinds[i]}")
        if self.next_id + n >= 2**31:
            raise OverflowError("order ids would pass 2**31 - 1")
        ids = array("i", bytes(4 * n))
        cdef int32_t[:] out = ids
        for i in range(n):
            if kinds[i] == KIND_LIMIT:
                out[i] = self._limit(traders[i], sides[i], prices[i], sizes_or_ids[i])
            else:
                self._cancel(sizes_or_ids[i])
        return ids

    @property
    def messages(self) -> int:
        """How many limit and cancel messages the engine has taken (executions name them by this count)."""
        return self.message_count

    @property
    def execution_count(self) -> int:
        return self.ex_len

    def take_executions(self) -> list:
        """The executions since the last take, as ``(trader, side, price, size)``: the buyer's, then the seller's."""
        cdef Py_ssize_t i
        names = self.trader_names
        result = [
            (names[self.ex_trader[i]], self.ex_side[i], self.ex_price[i], self.ex_size[i]) for i in range(self.ex_len)
        ]
        self.ex_len = 0
        return result

    def take_execution_columns(self) -> tuple:
        """The executions since the last take, as columns: message number, trader code, side, price, size."""
        cdef Py_ssize_t i, n = self.ex_len
        msg = array("q", bytes(8 * n))
        trader = array("i", bytes(4 * n))
        side = array("b", bytes(n))
        price = array("i", bytes(4 * n))
        size = array("q", bytes(8 * n))
        cdef int64_t[:] msg_v = msg
        cdef int32_t[:] trader_v = trader
        cdef int8_t[:] side_v = side
        cdef int32_t[:] price_v = price
        cdef int64_t[:] size_v = size
        for i in range(n):
            msg_v[i] = self.ex_msg[i]
            trader_v[i] = self.ex_trader[i]
            side_v[i] = self.ex_side[i]
            price_v[i] = self.ex_price[i]
            size_v[i] = self.ex_size[i]
        self.ex_len = 0
        return msg, trader, side, price, size

    @property
    def traders(self) -> list:
        return list(self.trader_names)

    def book(self) -> list:
        """Resting orders as ``(side, price, ((order id, trader, size), ...))``: bids high to low, asks low to high."""
        cdef int32_t price, order_id
        bids = []
        asks = []
        names = self.trader_names
        for price in range(NPRICES - 1, 0, -1):
            order_id = self.head[price]
            if order_id == 0:
                continue
            orders = []
            while order_id != 0:
                if self.order_size[order_id] > 0:
                    orders.append((order_id, names[self.order_trader[order_id]], self.order_size[order_id]))
                order_id = self.order_next[order_id]
            if orders:
                if self.order_side[orders[0][0]] == BUY:
                    bids.append((BUY, price, tuple(orders)))
                else:
                    asks.append((SELL, price, tuple(orders)))
        asks.reverse()
        return bids + asks
