"""The caseworker's workspace: inbox, submissions, customers, notices, exports."""
