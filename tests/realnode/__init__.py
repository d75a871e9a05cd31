"""Tests on the real node: the images really run, probes really pass, HTTP to the pod."""
