"""The command-line layer: the only package that imports click, prints or prompts."""
