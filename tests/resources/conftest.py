from __future__ import annotations

import pytest

from cspkit.client import PartnerCenter

BASE = "https://pc.test"


@pytest.fixture
def pc():
    client = PartnerCenter(endpoint=BASE, access_token="t0k3n", sleep=lambda s: None, jitter=lambda upper: 0.0)
    yield client
    client.close()
