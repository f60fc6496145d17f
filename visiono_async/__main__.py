"""``python -m visiono_async`` runs the ``visiono`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
