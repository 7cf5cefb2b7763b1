"""Planner over HTTP: POST /api/v1/plans (JSON) and POST /ui/plans/breakdown (the form's HTML fragment)."""
