"""Hand-over formats for offices without an API client: an xdomea-style ZIP."""
