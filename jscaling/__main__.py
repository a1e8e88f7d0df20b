"""`python -m jscaling`: the same as the `jscaling` command."""

from jscaling.cli import main

raise SystemExit(main())
