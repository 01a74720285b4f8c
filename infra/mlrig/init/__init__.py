"""`mlrig init`: a new platform repository, or a team's project in one.

- `platform.py`: the files of a platform repository (Pulumi.yaml running mlrig's program, the
  Platform bundle, the hash-locked requirements, the deployer-role policies, its README), plus
  everything `mlrig generate` derives from them;
- `project.py`: a team's Project bundle from a template (tabular, llm, vision) and what the
  platform bundle must gain for it (`admission.py`);
- `app.py`: the team's application repository skeleton, as its generated workflows expect it;
- `lock.py`, `policy.py`: the requirements lock and the AWS deployer-role policy documents;
- `tree.py`: writing a set of new files all at once, never over an existing file;
- `commands.py`: the click commands (prompts on a terminal, flags otherwise).
"""
