"""`kamal-siem validate`: every check CI needs on the rule content, offline."""
