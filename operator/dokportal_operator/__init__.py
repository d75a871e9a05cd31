"""The Dokportal operator: one Portal resource per tenant, an isolated instance for each.

Independent of the portal package (`dokportal`): it renders charts/portal and talks to the
Kubernetes API and S3, nothing else.
"""
