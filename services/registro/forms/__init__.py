"""WTForms forms: validation only (business rules live in workflow/)."""
