"""The bad input catalogue of `tests/test_suite_bad_input.py` (issue #8, suite 4)."""
