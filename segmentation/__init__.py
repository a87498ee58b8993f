"""Offline segmentation: export, features, model selection, training, publishing, reports.

The `segment` command (segmentation/cli.py; its parser: segmentation/cli_parser.py) is the
analyst's whole workflow.
"""
