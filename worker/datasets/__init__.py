"""Dataset work that needs a tokenizer (token-length statistics, loss-mask preview): worker side only."""
