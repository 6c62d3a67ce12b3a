"""Local Partner Center emulator (with the SaaS publisher side, a virtual clock and fault injection).

- :class:`EmulatorServer` — run it (in-process thread or ``cspkit emulator serve``); ``.url``, ``.token``,
  ``.backend``, ``.clock``, ``.faults``.
- :class:`Backend` — the state machines, methods named after the operations (``create_cart``, ``checkout_cart``…).
- :class:`Clock` — virtual time; advancing it fires due events in order.

Planes: Partner Center under ``/v1``, SaaS fulfillment under ``/api/saas``, the emulated publisher under
``/publisher``, the control API under ``/_emulator``.
"""

from cspkit.emulator.backend import Backend
from cspkit.emulator.clock import Clock
from cspkit.emulator.server import DEFAULT_TOKEN, EmulatorServer

__all__ = ["DEFAULT_TOKEN", "Backend", "Clock", "EmulatorServer"]
