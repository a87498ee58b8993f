"""Custom actions for the personalized electronics-shop assistant.

rasa-sdk imports every module in this package and registers each ``Action``
subclass it finds, so modules stay small and need no registry.
"""

from actions.startup import check_configuration

check_configuration()  # a broken catalogue or experiments file stops the server at start
