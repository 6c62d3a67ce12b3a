"""Relational reconciliation engine (issue 15): the lines, subscriptions and price list as tables, each variance
category a small Ibis function (:mod:`.checks`) run in-process by DuckDB or on Spark (:mod:`.variances`)."""
