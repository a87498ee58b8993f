"""Personal data protection: keys, encrypted profile fields, consent, export and erasure."""
