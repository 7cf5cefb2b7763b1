"""Synthetic training data through any OpenAI-compatible endpoint (issue 13).

Pure modules (prompts, parsing, caller) are shared with the generation child (worker/synthesis/run.py),
which must not import the web or the database: keep this file free of imports."""
