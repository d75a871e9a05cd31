"""One module per reaction: start-up, keeping a Portal, drift of its children, its deletion."""
