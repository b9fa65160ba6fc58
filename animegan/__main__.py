"""``python -m animegan``: see :mod:`animegan.cli`."""

from .cli import main

raise SystemExit(main())
