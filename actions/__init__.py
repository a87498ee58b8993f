"""Custom actions for the personalized electronics-shop assistant.

rasa-sdk imports every module in this package and registers each ``Action``
subclass it finds, so modules stay small and need no registry.
"""
