"""The operator suite: unit tests need nothing; cluster tests share one control plane."""
