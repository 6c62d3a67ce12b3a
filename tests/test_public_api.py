"""The package's public surface stays deliberate."""

import cspkit
import cspkit.errors


def test_all_is_sorted_and_resolvable():
    for module in (cspkit, cspkit.errors):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_every_error_is_a_cspkit_error():
    for name in cspkit.errors.__all__:
        obj = getattr(cspkit.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, cspkit.CspkitError)
