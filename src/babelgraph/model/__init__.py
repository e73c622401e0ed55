"""The model side: loading (load), the dictionary interface and its adapters (dictionaries), and the traced,
frozen replacement model (replacement), the only module that names transformer_lens hooks."""
