"""The evaluation scorecard: eval jobs, their scores, base vs fine-tuned comparisons, the MMCU leaderboard."""
