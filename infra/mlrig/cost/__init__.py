"""`mlrig cost`: a monthly estimate per stack, read from the offline plan.

- `prices.py`: the dated price snapshot (`data/prices.json`) and its look-ups;
- `cron.py`: how many times a month a cron schedule fires;
- `estimate.py`: the plan's resources priced, fixed and scheduled parts;
- `render.py`, `command.py`: the command; `refresh.py`: `mlrig cost refresh-prices`.
"""
