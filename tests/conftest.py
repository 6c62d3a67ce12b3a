pytest_plugins = ["cspkit.emulator.testing"]
