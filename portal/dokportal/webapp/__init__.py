"""The installable web app: manifest, service worker (static files + offline page only)."""
