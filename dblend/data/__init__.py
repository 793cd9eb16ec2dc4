"""Data sets: embedded phantoms, downloads of real CT and their preprocessing."""
