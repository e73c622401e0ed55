"""Scripts that rebuild the bundled demo model from the word tables (see MODEL_CARD.md)."""
