"""Registration (SPEC §3–4): the form, the recorded saga that creates the account, the responsiva."""
