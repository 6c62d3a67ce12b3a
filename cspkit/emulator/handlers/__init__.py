"""The emulator's handlers, one module per area, as plain module-level functions.

Each reaches its emulator through ``request.app.state`` (:mod:`cspkit.emulator.http`); :mod:`cspkit.emulator.routes`
maps them to URLs in one table.
"""
