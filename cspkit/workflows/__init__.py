"""Workflows: what a reseller or finance does, composed from resources and the pure billing/report libraries.

* :mod:`cspkit.workflows.ordering` — plans, journaled checkouts and subscription changes (the one guarded path),
  batches, fan-out, where writes go;
* :mod:`cspkit.workflows.guards` — refusals before a write (cancellation and seat windows, SKU bounds, buying);
* :mod:`cspkit.workflows.ratelimit` — the client-side token bucket shared by worker threads;
* :mod:`cspkit.workflows.reconciliation` — invoice → line items → subscriptions → reconcile;
* :mod:`cspkit.workflows.activation` — follow a marketplace activation link as the customer's browser;
* :mod:`cspkit.workflows.demo` — the whole month on a fresh embedded emulator.

Layer: above ``resources`` (and ``models``, ``ledger``, ``billing``, ``reports``), below ``cli``; the contract is
checked by import-linter (``[tool.importlinter]`` in pyproject.toml, docs/architecture.md).
"""
