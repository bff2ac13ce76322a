"""The documents feature: what an applicant hands in and how the service reads and checks it."""
