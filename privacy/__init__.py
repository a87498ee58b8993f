"""Personal data protection: keys, encrypted profile fields, pseudonyms, consent and erasure."""
