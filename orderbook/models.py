"""No models: orderbook keeps no rows in PostgreSQL.

Live books are state in Redis (the default cache), each market's snapshot under a short expiry: written by
:func:`orderbook.services.orderbook_snapshot_publish`, read through :mod:`orderbook.selectors`. So there is no
``admin.py`` (nothing to administer) and no migrations. There is no ``tasks.py`` either: the books are fed by a
long-running watcher holding the venues' websockets (``manage.py orderbook watch``), not by Celery tasks, and the
matching engine (:mod:`orderbook.matching`) and the L2 mirrors (:mod:`orderbook.l2`) are its pure core.
"""
