"""What the Spark test modules share: whether Spark can run here, and the skip that says why not."""

from __future__ import annotations

import pytest

from cspkit.billing.engine import spark
from cspkit.errors import ConfigurationError


def spark_missing(what: str) -> str | None:
    """None when pyspark and (local mode) Java are here, else why ``what`` is skipped and how to install it."""
    try:
        spark.require_spark()
    except ConfigurationError as exc:
        return f"{what} skipped: {exc} ({exc.hint})"
    return None


def needs_spark(what: str) -> pytest.MarkDecorator:
    """A skip mark for tests that run Spark, naming what is missing."""
    reason = spark_missing(what)
    return pytest.mark.skipif(reason is not None, reason=reason or "")
