"""The ``motools`` command line. Parsers are built without importing anything heavy."""
