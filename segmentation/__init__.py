"""Offline segmentation: export, features, model selection, training, publishing, reports.

The `segment` command (segmentation/cli.py, parser in segmentation/cli_parser.py) is the analyst's whole workflow.
"""
