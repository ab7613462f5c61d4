"""Services of account security: signing in (throttled, audited, two-factor), registration and
email verification, passwords, personal access tokens, TOTP two-factor and the rotation of the
keys that encrypt secrets at rest. Views, forms and commands call these; the rules live here."""
