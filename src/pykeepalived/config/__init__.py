"""keepalived.conf lexer, parser, typed model and validator."""
