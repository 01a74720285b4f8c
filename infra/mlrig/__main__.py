"""`python -m mlrig …` is the `mlrig` command."""

from mlrig.entry import main

main()
