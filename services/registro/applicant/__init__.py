"""The applicant's own pages: the status page and its links, the privacy notice, personal data (ARCO)."""
