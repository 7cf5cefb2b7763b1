"""Success hooks: what a finished job of each kind leaves in the database (see worker/job_kinds.py)."""
