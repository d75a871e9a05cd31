"""Public pages about the portal: easy language, accessibility statement, offline page."""
