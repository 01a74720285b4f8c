"""`mlrig diff`: both revisions of a change planned offline and compared per stack.

- `replacement.py`: the table of replace-triggering properties and the stateful types;
- `compare.py`: resources added, removed, replaced and updated, property changes, masking;
- `render.py`: text, Markdown (the pull-request comment) and JSON;
- `command.py`: git, the affected stacks, the two planners.
"""
