"""`mlrig migrate`: bundle format versions and the migrations between them.

- `versions.py`: the current `apiVersion` and what `validate` says about others;
- `registry.py`: the migrations, one module each (`m0001_tenancy.py`, …), in order;
- `document.py`: files as text with a ruamel.yaml round-trip view, edited by splicing, so
  comments and formatting survive;
- `command.py`: `--check`, `--diff`, and writing all files or none.
"""
