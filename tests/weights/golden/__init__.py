"""Golden outputs for the weight converters; see make_golden.py."""
