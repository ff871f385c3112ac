"""Loopback sandboxes that speak each partner's real wire format (tooling only)."""

from __future__ import annotations

import importlib
import inspect

from handoff_dev.sandboxes.base import Sandbox

SANDBOX_MODULES = ("planyo", "bookingmood", "plisio", "billit", "ocrwebservice", "slack")


def sandbox_classes() -> dict[str, type[Sandbox]]:
    """Every sandbox class, by tool name."""
    found: dict[str, type[Sandbox]] = {}
    for module_name in SANDBOX_MODULES:
        try:
            module = importlib.import_module(f"handoff_dev.sandboxes.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"handoff_dev.sandboxes.{module_name}":
                continue
            raise
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Sandbox) and obj is not Sandbox and obj.__module__ == module.__name__:
                found[obj.name] = obj
    return found


def start_all() -> dict[str, Sandbox]:
    """Start one sandbox per partner on random loopback ports."""
    return {name: cls().start() for name, cls in sandbox_classes().items()}
