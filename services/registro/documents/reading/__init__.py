"""The machine reads identity documents: the MRZ of INE backs and passports, the CURP document's
text, and the quality of a photo, for the reviewer's "Lectura automática" (issue 23)."""
