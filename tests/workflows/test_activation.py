"""Following an activation link (cspkit.workflows.activation, moved out of the emulator): errors are CspkitErrors."""

from __future__ import annotations

import pytest

from cspkit.errors import APIConnectionError, CspkitError
from cspkit.workflows.activation import follow_activation_link, rebase_link


def test_a_landing_page_without_a_form_is_refused_with_its_title(emulator):
    with pytest.raises(CspkitError) as info:
        follow_activation_link(f"{emulator.url}/publisher/21223810/landing?token=not-a-purchase-token")
    assert "offers no activation form" in str(info.value) and info.value.exit_code == 1
    assert "activation-links" in info.value.hint


def test_an_unreachable_page_is_a_connection_error_without_its_token():
    with pytest.raises(APIConnectionError) as info:
        follow_activation_link("http://127.0.0.1:9/publisher/1/landing?token=SECRET", timeout=2)
    assert "SECRET" not in str(info.value)


def test_rebase_moves_only_loopback_links():
    assert rebase_link("http://127.0.0.1:5000/publisher/1/landing?token=t", "http://127.0.0.1:6000") == \
        "http://127.0.0.1:6000/publisher/1/landing?token=t"
    assert rebase_link("https://isv.example/landing?token=t", "http://127.0.0.1:6000") == \
        "https://isv.example/landing?token=t"
