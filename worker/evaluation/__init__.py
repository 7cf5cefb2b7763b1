"""Evaluation: pure metric functions (BLEU, ROUGE, MMCU scoring, bootstrap, collapse detectors) and the
torch harnesses that produce predictions (generation, MMCU reference/likelihood modes, quick eval).

Pure modules (no torch): text_metrics, bootstrap, mmcu_data, mmcu_scoring, collapse.
"""
