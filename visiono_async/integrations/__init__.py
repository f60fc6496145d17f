"""Webhook receivers for web frameworks: ``fastapi`` and ``aiohttp`` (import the submodule).

Nothing is imported here, so ``import visiono_async`` works without the optional extras.
"""
