"""Study files: parsing, validation, and the typed configuration they become."""
