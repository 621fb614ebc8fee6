"""``python -m bertsent`` runs the CLI."""

from bertsent.cli import main

raise SystemExit(main())
