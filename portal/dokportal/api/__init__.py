"""The export API for the office's e-file (``/api/v1``), authenticated by API tokens."""
