"""hotlined's integration tests: run.py is the runner, lib.py the one library
of helpers, and test_<subject>.py the tests of each subject (see
tests/README.md)."""
