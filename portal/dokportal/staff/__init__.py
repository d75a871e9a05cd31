"""Staff accounts (caseworkers, team leads, admins), teams, sign-in with TOTP or OIDC."""
